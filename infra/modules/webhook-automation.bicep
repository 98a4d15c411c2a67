// The automation rules that run the webhook playbook, and the playbook identity's role, on the
// Microsoft Sentinel workspace. Deployed by main.bicep at the workspace's scope when
// deployWebhookPlaybook is true (the workspace may be in another subscription / resource group).
//
//   - Microsoft Sentinel Reader for the playbook's managed identity: its Microsoft Sentinel
//     connection serves only the trigger, which needs no more (learn.microsoft.com, "Authenticate
//     playbooks to Microsoft Sentinel", permissions table); the HTTP action uses the function key.
//   - Two automation rules (one triggersWhen each: Created, Updated), both for incidents whose alert
//     product names contain a Defender for Cloud name (the same two names as src/policy.rs) and that
//     are not Closed (the timer reopens a Closed one, SYNC_REOPEN_ON_REACTIVATION), with one
//     action: RunPlaybook.
//     Property names and operators: Azure/azure-rest-api-specs, Microsoft.SecurityInsights
//     stable/2025-09-01/AutomationRules.json. Order 1000, the last: rules that assign owners or
//     change incidents run first.
//
// Assignment and rule names are guids of the scope and the playbook: redeploying is idempotent, a
// second instance (another playbook) gets its own.

targetScope = 'resourceGroup'

@description('Name of the Log Analytics workspace that Microsoft Sentinel is enabled on (in this resource group).')
param workspaceName string

@description('Resource id of the webhook playbook (Logic App).')
param playbookResourceId string

@description('Object (principal) id of the playbook\'s system-assigned identity.')
param principalId string

@description('Function app name, for the rules\' display names.')
param appName string

var sentinelReaderRoleId = '8d289c81-5878-46d4-8554-54e1e3d8b5cb'
var defenderProductNames = [
  'Azure Security Center'
  'Microsoft Defender for Cloud'
]
var ruleConditions = [
  {
    conditionType: 'Property'
    conditionProperties: {
      propertyName: 'AlertProductNames'
      operator: 'Contains'
      propertyValues: defenderProductNames
    }
  }
  {
    conditionType: 'Property'
    conditionProperties: {
      propertyName: 'IncidentStatus'
      operator: 'NotEquals'
      propertyValues: [
        'Closed'
      ]
    }
  }
]
var ruleActions = [
  {
    order: 1
    actionType: 'RunPlaybook'
    actionConfiguration: {
      logicAppResourceId: playbookResourceId
      tenantId: subscription().tenantId
    }
  }
]

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' existing = {
  name: workspaceName
}

resource sentinelReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(workspace.id, principalId, sentinelReaderRoleId)
  scope: workspace
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', sentinelReaderRoleId)
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: 'dfc-sentinel-sync: the webhook playbook\'s Microsoft Sentinel incident trigger'
  }
}

resource onCreated 'Microsoft.SecurityInsights/automationRules@2025-09-01' = {
  name: guid(workspace.id, playbookResourceId, 'Created')
  scope: workspace
  properties: {
    displayName: 'dfc-sentinel-sync ${appName}: sync a created Defender for Cloud incident now'
    order: 1000
    triggeringLogic: {
      isEnabled: true
      triggersOn: 'Incidents'
      triggersWhen: 'Created'
      conditions: ruleConditions
    }
    actions: ruleActions
  }
  dependsOn: [
    sentinelReader
  ]
}

resource onUpdated 'Microsoft.SecurityInsights/automationRules@2025-09-01' = {
  name: guid(workspace.id, playbookResourceId, 'Updated')
  scope: workspace
  properties: {
    displayName: 'dfc-sentinel-sync ${appName}: sync an updated Defender for Cloud incident now'
    order: 1000
    triggeringLogic: {
      isEnabled: true
      triggersOn: 'Incidents'
      triggersWhen: 'Updated'
      conditions: ruleConditions
    }
    actions: ruleActions
  }
  dependsOn: [
    sentinelReader
  ]
}

output automationRuleIds array = [
  onCreated.id
  onUpdated.id
]
