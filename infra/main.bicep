// dfc-sentinel-sync: the Azure Functions custom handler that keeps Microsoft Sentinel incidents in
// step with Defender for Cloud alerts, on a Flex Consumption (FC1, Linux) plan.
//
// Deploys into the function app's resource group:
//   - storage account (no shared keys, TLS 1.2, https only) + blob container for the deployment package
//   - Log Analytics workspace for Application Insights (unless an existing one is given)
//   - Application Insights
//   - Flex Consumption plan + function app (runtime `custom`, identity-based storage)
//   - Storage Blob Data Owner for the app's identity on the storage account (modules/storage-access.bicep)
// and, at the Sentinel workspace's scope (possibly another subscription / resource group):
//   - Microsoft Sentinel Responder + Log Analytics Reader (modules/workspace-access.bicep)
//
// The hand-written ARM equivalent is azuredeploy.json (Deploy to Azure button); tools/infra/check.py
// keeps the two in step. Code is published separately: scripts/package, then
// `func azure functionapp publish <app> --custom` from dist/app (docs/deploy.md).

targetScope = 'resourceGroup'

@description('Function app name (globally unique: <name>.azurewebsites.net). Also used to name the other resources.')
@minLength(2)
@maxLength(60)
param appName string = 'dfcsync-${uniqueString(resourceGroup().id)}'

@description('Region of the function app and its resources (must offer the Flex Consumption plan).')
param location string = resourceGroup().location

@description('Resource id of the Log Analytics workspace Microsoft Sentinel is enabled on: /subscriptions/<sub>/resourceGroups/<rg>/providers/Microsoft.OperationalInsights/workspaces/<name>. May be in another subscription or resource group.')
param sentinelWorkspaceResourceId string

@description('Optional: resource id of a user-assigned managed identity to run as (its client id goes to AZURE_CLIENT_ID). Empty: a system-assigned identity is used.')
param userAssignedIdentityResourceId string = ''

@description('Optional: resource id of an existing Log Analytics workspace for Application Insights. Empty: a new one is created.')
param appInsightsWorkspaceResourceId string = ''

@description('ARM_ENDPOINT override. Empty: the endpoint of the cloud in AZURE_CLOUD (taken from environment().name).')
param armEndpoint string = ''

@description('LOG_ANALYTICS_ENDPOINT override. Empty: the endpoint of the cloud in AZURE_CLOUD.')
param logAnalyticsEndpoint string = ''

@description('SENTINEL_API_VERSION: Microsoft.SecurityInsights API version.')
param sentinelApiVersion string = '2025-09-01'

@description('SYNC_SCHEDULE: NCRONTAB schedule of the reconciliation run (UTC).')
param syncSchedule string = '0 */5 * * * *'

@description('SYNC_LOOKBACK_DAYS: how far back alert changes are considered.')
@minValue(1)
@maxValue(3650)
param syncLookbackDays int = 30

@description('SYNC_DRY_RUN: decide and log, change nothing. true on a first deploy: read the decisions in Application Insights, then redeploy with false.')
param syncDryRun bool = true

@description('SYNC_SKIP_OWNED_INCIDENTS: leave incidents that have an owner alone.')
param syncSkipOwnedIncidents bool = false

@description('SYNC_RUN_BUDGET_SECONDS: a run starts no new work after this long (host.json functionTimeout is 5 minutes).')
@minValue(10)
@maxValue(3600)
param syncRunBudgetSeconds int = 240

@description('SYNC_WEBHOOK_TIMEOUT_SECONDS: a webhook call answers within this long (a playbook HTTP action waits about two minutes).')
@minValue(5)
@maxValue(110)
param syncWebhookTimeoutSeconds int = 50

@description('RUST_LOG: handler log filter (tracing EnvFilter syntax).')
param rustLog string = 'info'

@description('Flex Consumption: maximum instance count.')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 40

@description('Flex Consumption: instance memory size in MB.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('Flex Consumption runtime version for the `custom` runtime (see az functionapp list-flexconsumption-runtimes).')
param customRuntimeVersion string = '1.0'

@description('Tags applied to every resource.')
param tags object = {}

// --- derived values ---------------------------------------------------------------------------

var workspaceIdParts = split(sentinelWorkspaceResourceId, '/')
var workspaceSubscriptionId = workspaceIdParts[2]
var workspaceResourceGroupName = workspaceIdParts[4]
var workspaceName = workspaceIdParts[8]

var useUserAssignedIdentity = !empty(userAssignedIdentityResourceId)
var createAppInsightsWorkspace = empty(appInsightsWorkspaceResourceId)

var storageAccountName = 'st${uniqueString(resourceGroup().id, appName)}'
var deploymentContainerName = 'app-package'
var planName = 'plan-${appName}'
var appInsightsName = 'appi-${appName}'
var logWorkspaceName = 'log-${appName}'

// --- existing resources -----------------------------------------------------------------------

resource sentinelWorkspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' existing = {
  name: workspaceName
  scope: resourceGroup(workspaceSubscriptionId, workspaceResourceGroupName)
}

// --- storage ----------------------------------------------------------------------------------

resource storageAccount 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: storageAccountName
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: 'Standard_LRS'
  }
  properties: {
    allowSharedKeyAccess: false
    allowBlobPublicAccess: false
    defaultToOAuthAuthentication: true
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storageAccount
  name: 'default'
}

resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: deploymentContainerName
  properties: {
    publicAccess: 'None'
  }
}

// --- monitoring -------------------------------------------------------------------------------

resource logWorkspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' = if (createAppInsightsWorkspace) {
  name: logWorkspaceName
  location: location
  tags: tags
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: 30
  }
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: appInsightsName
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: createAppInsightsWorkspace ? logWorkspace.id : appInsightsWorkspaceResourceId
  }
}

// --- function app -----------------------------------------------------------------------------

var userAssignedClientId = useUserAssignedIdentity ? reference(userAssignedIdentityResourceId, '2023-01-31').clientId : ''
var userAssignedPrincipalId = useUserAssignedIdentity ? reference(userAssignedIdentityResourceId, '2023-01-31').principalId : ''

// The configuration contract: every setting in SETTINGS (src/config.rs), then the platform's.
var contractAppSettings = [
  {
    name: 'SENTINEL_WORKSPACE_ID'
    value: sentinelWorkspace.properties.customerId
  }
  {
    name: 'SENTINEL_WORKSPACE_RESOURCE_ID'
    value: sentinelWorkspaceResourceId
  }
  {
    name: 'AZURE_CLIENT_ID'
    value: userAssignedClientId
  }
  {
    name: 'AZURE_CLOUD'
    value: environment().name
  }
  {
    name: 'ARM_ENDPOINT'
    value: armEndpoint
  }
  {
    name: 'LOG_ANALYTICS_ENDPOINT'
    value: logAnalyticsEndpoint
  }
  {
    name: 'SENTINEL_API_VERSION'
    value: sentinelApiVersion
  }
  {
    name: 'SYNC_SCHEDULE'
    value: syncSchedule
  }
  {
    name: 'SYNC_LOOKBACK_DAYS'
    value: string(syncLookbackDays)
  }
  {
    name: 'SYNC_DRY_RUN'
    value: syncDryRun ? 'true' : 'false'
  }
  {
    name: 'SYNC_SKIP_OWNED_INCIDENTS'
    value: syncSkipOwnedIncidents ? 'true' : 'false'
  }
  {
    name: 'SYNC_RUN_BUDGET_SECONDS'
    value: string(syncRunBudgetSeconds)
  }
  {
    name: 'SYNC_WEBHOOK_TIMEOUT_SECONDS'
    value: string(syncWebhookTimeoutSeconds)
  }
  {
    name: 'RUST_LOG'
    value: rustLog
  }
]

// Identity-based host storage. Service URIs rather than __accountName so that sovereign clouds
// get their own endpoint suffix.
var platformAppSettings = [
  {
    name: 'AzureWebJobsStorage__blobServiceUri'
    value: storageAccount.properties.primaryEndpoints.blob
  }
  {
    name: 'AzureWebJobsStorage__queueServiceUri'
    value: storageAccount.properties.primaryEndpoints.queue
  }
  {
    name: 'AzureWebJobsStorage__tableServiceUri'
    value: storageAccount.properties.primaryEndpoints.table
  }
  {
    name: 'AzureWebJobsStorage__credential'
    value: 'managedidentity'
  }
  {
    name: 'APPLICATIONINSIGHTS_CONNECTION_STRING'
    value: appInsights.properties.ConnectionString
  }
]

var userAssignedAppSettings = [
  {
    name: 'AzureWebJobsStorage__clientId'
    value: userAssignedClientId
  }
]

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    tier: 'FlexConsumption'
    name: 'FC1'
  }
  properties: {
    reserved: true
  }
}

resource functionApp 'Microsoft.Web/sites@2024-04-01' = {
  name: appName
  location: location
  tags: tags
  kind: 'functionapp,linux'
  identity: useUserAssignedIdentity ? {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${userAssignedIdentityResourceId}': {}
    }
  } : {
    type: 'SystemAssigned'
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    siteConfig: {
      minTlsVersion: '1.2'
      appSettings: concat(contractAppSettings, platformAppSettings, useUserAssignedIdentity ? userAssignedAppSettings : [])
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storageAccount.properties.primaryEndpoints.blob}${deploymentContainerName}'
          authentication: useUserAssignedIdentity ? {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: userAssignedIdentityResourceId
          } : {
            type: 'SystemAssignedIdentity'
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      runtime: {
        name: 'custom'
        version: customRuntimeVersion
      }
    }
  }
  dependsOn: [
    deploymentContainer
  ]
}

var principalId = useUserAssignedIdentity ? userAssignedPrincipalId : functionApp.identity.principalId

// --- role assignments -------------------------------------------------------------------------

module storageAccess 'modules/storage-access.bicep' = {
  name: 'storage-access-${uniqueString(functionApp.id)}'
  params: {
    storageAccountName: storageAccount.name
    principalId: principalId
  }
}

module workspaceAccess 'modules/workspace-access.bicep' = {
  name: 'workspace-access-${uniqueString(functionApp.id)}'
  scope: resourceGroup(workspaceSubscriptionId, workspaceResourceGroupName)
  params: {
    workspaceName: workspaceName
    principalId: principalId
  }
}

// --- outputs ----------------------------------------------------------------------------------

output functionAppName string = functionApp.name
output functionAppHostName string = functionApp.properties.defaultHostName
output principalId string = principalId
