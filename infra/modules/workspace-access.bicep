// Role assignments for the function app's identity on the Microsoft Sentinel workspace.
// Deployed by main.bicep at the workspace's scope: resourceGroup(<workspace subscription>, <workspace RG>),
// which may be another subscription and resource group than the function app's.
//
// Roles (built-in role definition GUIDs, the same in every Azure cloud):
//   - Microsoft Sentinel Responder: read incidents and alerts, update incidents (status,
//     classification, labels, comments). Does NOT grant Log Analytics query access.
//   - Log Analytics Reader: run the candidate query against SecurityAlert / SecurityIncident.
//     (The Logic App we replace granted only Responder and relied on it for the query.)
//
// Assignment names are guid(scope, principalId, roleDefinitionId): deterministic, so redeploying
// the same instance is idempotent, and a second instance (another principal) never collides.

targetScope = 'resourceGroup'

@description('Name of the Log Analytics workspace that Microsoft Sentinel is enabled on (in this resource group).')
param workspaceName string

@description('Object (principal) id of the identity the function app runs as.')
param principalId string

var sentinelResponderRoleId = '3e150937-b8fe-4cfb-8069-0eaf05ecd056'
var logAnalyticsReaderRoleId = '73c42c96-874c-492b-b04d-ab87d138a893'

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' existing = {
  name: workspaceName
}

resource sentinelResponder 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(workspace.id, principalId, sentinelResponderRoleId)
  scope: workspace
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', sentinelResponderRoleId)
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: 'dfc-sentinel-sync: update Sentinel incidents from Defender for Cloud alert state'
  }
}

resource logAnalyticsReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(workspace.id, principalId, logAnalyticsReaderRoleId)
  scope: workspace
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', logAnalyticsReaderRoleId)
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: 'dfc-sentinel-sync: query SecurityAlert and SecurityIncident'
  }
}

output roleAssignmentIds array = [
  sentinelResponder.id
  logAnalyticsReader.id
]
