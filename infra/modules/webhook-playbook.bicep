// The webhook playbook: a Logic App (Consumption) that the automation rules of
// modules/webhook-automation.bicep run, with the Microsoft Sentinel incident trigger and one HTTP
// action that posts the trigger body to the function app's SecurityAlertWebhook. Deployed by
// main.bicep into the function app's resource group when deployWebhookPlaybook is true.
//
//   - Microsoft Sentinel API connection (managed API azuresentinel), authenticated by the Logic
//     App's system-assigned managed identity: parameterValueType 'Alternative' on the connection,
//     connectionProperties.authentication ManagedServiceIdentity in $connections (the shape of
//     Azure/Azure-Sentinel's playbook templates, e.g. Solutions/SentinelSOARessentials/Playbooks/
//     relateAlertsToIncident-basedOnIP/azuredeploy.json). The identity's Microsoft Sentinel Reader
//     role on the workspace (enough for triggers: learn.microsoft.com, "Authenticate playbooks to
//     Microsoft Sentinel") is granted in modules/webhook-automation.bicep.
//   - The workflow definition is ../playbook/webhook-playbook.definition.json (one file for both
//     templates). Its functionKey parameter is a SecureString fed here with the function app's host
//     key `default`, read at deployment with listKeys: never pasted by hand, not shown in the
//     definition, and the HTTP action's inputs are kept out of run history (secureData).
//     The host key rather than SecurityAlertWebhook's own key: a function's keys exist only once
//     the code is published, the host keys once the host runs (listKeys fails while it cannot,
//     Azure/azure-functions-host#5722), so deploy with the playbook after publishing the code.
//   - Microsoft Sentinel Automation Contributor on this resource group for Microsoft Sentinel's
//     service principal (Azure Security Insights, app id 98785600-1bb7-4fb9-b9fa-19afe2c8a360;
//     its object id differs per tenant, hence a parameter), which automation rules need to run a
//     playbook. Empty: not granted here (it exists already, e.g. from Sentinel's playbook
//     permissions settings; a second assignment of the same role would fail as RoleAssignmentExists).

targetScope = 'resourceGroup'

@description('Region of the playbook and its API connection.')
param location string

@description('Tags applied to both resources.')
param tags object

@description('Name of the Logic App.')
param playbookName string

@description('Name of its Microsoft Sentinel API connection.')
param connectionName string

@description('Name of the function app (in this resource group) whose SecurityAlertWebhook the playbook calls.')
param functionAppName string

@description('Object id of Microsoft Sentinel\'s service principal in this tenant; empty: the Automation Contributor role is not granted here.')
param sentinelAutomationPrincipalId string

var automationContributorRoleId = 'f4c81013-99ee-4d62-a7ee-b3f1f648599a'
var grantAutomationRole = !empty(sentinelAutomationPrincipalId)

resource functionApp 'Microsoft.Web/sites@2024-04-01' existing = {
  name: functionAppName
}

resource sentinelConnection 'Microsoft.Web/connections@2016-06-01' = {
  name: connectionName
  location: location
  tags: tags
  properties: {
    displayName: connectionName
    // Not in the type or the REST spec, but set by Microsoft's own Sentinel playbook templates for a
    // connection that uses the Logic App's identity (tests/fixtures/azure-types/references/).
    #disable-next-line BCP037
    parameterValueType: 'Alternative'
    api: {
      id: subscriptionResourceId('Microsoft.Web/locations/managedApis', location, 'azuresentinel')
    }
  }
}

resource playbook 'Microsoft.Logic/workflows@2019-05-01' = {
  name: playbookName
  location: location
  tags: tags
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    state: 'Enabled'
    definition: loadJsonContent('../playbook/webhook-playbook.definition.json')
    parameters: {
      '$connections': {
        value: {
          azuresentinel: {
            connectionId: sentinelConnection.id
            connectionName: connectionName
            id: subscriptionResourceId('Microsoft.Web/locations/managedApis', location, 'azuresentinel')
            connectionProperties: {
              authentication: {
                type: 'ManagedServiceIdentity'
              }
            }
          }
        }
      }
      webhookUrl: {
        value: 'https://${functionApp.properties.defaultHostName}/api/SecurityAlertWebhook'
      }
      functionKey: {
        value: listKeys('${functionApp.id}/host/default', '2024-04-01').functionKeys.default
      }
    }
  }
}

resource automationContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (grantAutomationRole) {
  name: guid(resourceGroup().id, sentinelAutomationPrincipalId, automationContributorRoleId)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', automationContributorRoleId)
    principalId: sentinelAutomationPrincipalId
    principalType: 'ServicePrincipal'
    description: 'dfc-sentinel-sync: automation rules run the webhook playbook'
  }
}

output playbookResourceId string = playbook.id
output playbookPrincipalId string = playbook.identity.principalId
