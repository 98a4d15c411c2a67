// dfc-sentinel-sync: the Azure Functions custom handler that keeps Microsoft Sentinel incidents in
// step with Defender for Cloud alerts, on a Linux plan: Flex Consumption (FC1, default), Elastic
// Premium (EP1) or Consumption (Y1), parameter hostingPlan.
//
// Deploys into the function app's resource group:
//   - storage account (no shared keys, TLS 1.2, https only) + blob container for the deployment package
//   - Log Analytics workspace for Application Insights (unless an existing one is given)
//   - Application Insights
//   - plan + function app (runtime `custom`, identity-based storage). Flex: functionAppConfig
//     (runtime custom, deployment container read with the app's identity). EP1/Y1: FUNCTIONS_WORKER_RUNTIME
//     custom, FUNCTIONS_EXTENSION_VERSION ~4, code run from a package blob in the same container
//     (WEBSITE_RUN_FROM_PACKAGE, read with the app's identity); no Azure Files content share, since
//     that needs a storage key and shared keys are off (docs/deploy.md, "Hosting plans")
//   - optional: two log alerts on Application Insights (alertActionGroupResourceId)
//   - Storage Blob Data Owner for the app's identity on the storage account (modules/storage-access.bicep)
// and, at the Sentinel workspace's scope (possibly another subscription / resource group):
//   - Microsoft Sentinel Responder + Log Analytics Reader (modules/workspace-access.bicep)
//   - the workbook (deployWorkbook, default true; modules/workbook.bicep)
// and, for each workspace in additionalWorkspaceResourceIds, at that workspace's scope:
//   - Microsoft Sentinel Responder + Log Analytics Reader (the same module, in a loop)
// Workspaces in delegatedWorkspaceResourceIds (Azure Lighthouse) get no role assignment here: the
// customer's delegation grants the roles (docs/deploy.md, "Several workspaces"). Every workspace
// is in SENTINEL_WORKSPACE_RESOURCE_ID; the workbook and the webhook path stay on the primary one.
// and, with deployWebhookPlaybook (default false; deploy it once the code is published):
//   - the webhook playbook, a Logic App posting Sentinel's incident trigger body to SecurityAlertWebhook
//     with the function host key read at deployment, in this resource group (modules/webhook-playbook.bicep)
//   - the automation rules that run it and its identity's Microsoft Sentinel Reader role, at the
//     workspace's scope (modules/webhook-automation.bicep)
//
// The hand-written ARM equivalent is azuredeploy.json (Deploy to Azure button); tools/infra/check.py
// keeps the two in step. Code is published separately: scripts/package, then
// `func azure functionapp publish <app> --custom` from dist/app (docs/deploy.md).

targetScope = 'resourceGroup'

@description('Function app name (globally unique: <name>.azurewebsites.net). Also used to name the other resources; at most 59 characters, so that log-<name> fits a workspace name (63).')
@minLength(2)
@maxLength(59)
param appName string = 'dfcsync-${uniqueString(resourceGroup().id)}'

@description('Region of the function app and its resources (with FlexConsumption: a region that offers the `custom` runtime on Flex Consumption).')
param location string = resourceGroup().location

@description('Hosting plan (Linux). FlexConsumption: FC1, runtime `custom` in functionAppConfig, not yet in every region. ElasticPremium: EP1. Consumption: Y1, Linux Consumption, retires 30 September 2028 and gets no new features. EP1 and Y1 run the code from a package blob (docs/deploy.md).')
@allowed([
  'FlexConsumption'
  'ElasticPremium'
  'Consumption'
])
param hostingPlan string = 'FlexConsumption'

@description('Resource id of the Log Analytics workspace Microsoft Sentinel is enabled on: /subscriptions/<sub>/resourceGroups/<rg>/providers/Microsoft.OperationalInsights/workspaces/<name>. May be in another subscription or resource group. With several workspaces, the primary one: the workbook and the webhook path are deployed on it.')
param sentinelWorkspaceResourceId string

@description('Further Sentinel workspaces (resource ids, same form) in tenants where the deployer can create role assignments: the template grants the app\'s identity Microsoft Sentinel Responder and Log Analytics Reader on each, as on the primary one. Empty: none.')
param additionalWorkspaceResourceIds array = []

@description('Sentinel workspaces (resource ids, same form) delegated to this tenant through Azure Lighthouse: the customer\'s delegation grants the two roles to the app\'s identity, so the template assigns none; they are only added to SENTINEL_WORKSPACE_RESOURCE_ID. Empty: none.')
param delegatedWorkspaceResourceIds array = []

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

@description('SYNC_RESOLVED_CLASSIFICATION: classification of a close when every alert is Resolved (or Resolved and Dismissed).')
@allowed([
  'TruePositive/SuspiciousActivity'
  'BenignPositive/SuspiciousButExpected'
  'FalsePositive/IncorrectAlertLogic'
  'FalsePositive/InaccurateData'
  'Undetermined'
])
param syncResolvedClassification string = 'TruePositive/SuspiciousActivity'

@description('SYNC_DISMISSED_CLASSIFICATION: classification of a close when every alert is Dismissed.')
@allowed([
  'TruePositive/SuspiciousActivity'
  'BenignPositive/SuspiciousButExpected'
  'FalsePositive/IncorrectAlertLogic'
  'FalsePositive/InaccurateData'
  'Undetermined'
])
param syncDismissedClassification string = 'BenignPositive/SuspiciousButExpected'

@description('SYNC_REOPEN_ON_REACTIVATION: set an incident this tool closed Active again when Defender for Cloud reactivates one of its alerts.')
param syncReopenOnReactivation bool = false

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

@description('Flex Consumption only: maximum instance count (the plan accepts 40 to 1000).')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 40

@description('Flex Consumption only: instance memory size in MB.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('Flex Consumption only: version of the `custom` runtime (see az functionapp list-flexconsumption-runtimes).')
param customRuntimeVersion string = '1.0'

@description('Optional: resource id of an Azure Monitor action group. Set: two log alerts on Application Insights notify it (a SyncTimer run failed; no SyncTimer run succeeded for an hour). Empty: no alerts.')
param alertActionGroupResourceId string = ''

@description('Deploy the webhook path: a playbook (Logic App) that posts every open Defender for Cloud incident Sentinel creates or updates to SecurityAlertWebhook, with the automation rules that run it. Deploy it once the code is published: the playbook reads the function host key at deployment (docs/deploy.md, step 3).')
param deployWebhookPlaybook bool = false

@description('With deployWebhookPlaybook: object id of Microsoft Sentinel\'s service principal in this tenant (az ad sp show --id 98785600-1bb7-4fb9-b9fa-19afe2c8a360 --query id -o tsv), granted Microsoft Sentinel Automation Contributor on this resource group so that automation rules may run the playbook. Empty: not granted by the template (because it is already).')
param sentinelAutomationPrincipalId string = ''

@description('Deploy the dfc-sentinel-sync workbook into the Sentinel workspace\'s resource group (Microsoft Sentinel, Workbooks): incidents the tool changed, time from the alert change, incidents still waiting and why, failed runs.')
param deployWorkbook bool = true

@description('Tags applied to every resource.')
param tags object = {}

// --- derived values ---------------------------------------------------------------------------

var workspaceIdParts = split(sentinelWorkspaceResourceId, '/')
var workspaceSubscriptionId = workspaceIdParts[2]
var workspaceResourceGroupName = workspaceIdParts[4]
var workspaceName = workspaceIdParts[8]

// Every workspace the app syncs, in order: the primary, the additional, the delegated ones.
// Conditions are parenthesised for pycep-parser 0.7.1, which does not give ==, !=, && and || their
// precedence (it reads `a != b || c` as `a != (b || c)`); Bicep reads both alike.
var allWorkspaceResourceIds = concat([sentinelWorkspaceResourceId], additionalWorkspaceResourceIds, delegatedWorkspaceResourceIds)
var workspaceCount = length(allWorkspaceResourceIds)
// An id not of the form /subscriptions/<sub>/resourceGroups/<rg>/providers/Microsoft.OperationalInsights/workspaces/<name>
// (9 segments, none empty; case-insensitive), and a workspace listed twice, fail the deployment
// below, before the function app is written.
var malformedWorkspaceResourceIds = filter(allWorkspaceResourceIds, id => (length(split(id, '/')) != 9) ? true : ((toLower(id) != toLower('/subscriptions/${split(id, '/')[2]}/resourceGroups/${split(id, '/')[4]}/providers/Microsoft.OperationalInsights/workspaces/${split(id, '/')[8]}')) || empty(split(id, '/')[2]) || empty(split(id, '/')[4]) || empty(split(id, '/')[8])))
// (Written without map(): checkov's Bicep parser, pycep-parser 0.5.1, knows no lambda but filter.)
var workspaceIdsListedOnce = length(union(split(toLower(join(allWorkspaceResourceIds, ',')), ','), [])) == workspaceCount
var workspaceIdProblems = concat(empty(malformedWorkspaceResourceIds) ? [] : ['not a workspace resource id: ${join(malformedWorkspaceResourceIds, ', ')}'], workspaceIdsListedOnce ? [] : ['a workspace is listed twice'])
// SENTINEL_WORKSPACE_RESOURCE_ID: the ids joined with ','. A lookup of a property that does not
// exist fails the deployment with an error that names it, so the problems are the property's name.
var sentinelWorkspaceResourceIds = {
  valid: join(allWorkspaceResourceIds, ',')
}[empty(workspaceIdProblems) ? 'valid' : 'invalid workspace resource ids (${join(workspaceIdProblems, '; ')})']
// SENTINEL_WORKSPACE_ID: the primary workspace's customerId when it is the only one; with several,
// empty, and the handler reads each workspace's id itself (Log Analytics Reader allows it).
var singleWorkspace = workspaceCount == 1

var useUserAssignedIdentity = !empty(userAssignedIdentityResourceId)
var createAppInsightsWorkspace = empty(appInsightsWorkspaceResourceId)

var storageAccountName = 'st${uniqueString(resourceGroup().id, appName)}'
var deploymentContainerName = 'app-package'
var planName = 'plan-${appName}'
var appInsightsName = 'appi-${appName}'
var logWorkspaceName = 'log-${appName}'

// Hosting plan. Every plan is Linux (reserved: true).
var isFlex = hostingPlan == 'FlexConsumption'
var runsFromPackage = !isFlex
var planSkus = {
  FlexConsumption: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  ElasticPremium: {
    name: 'EP1'
    tier: 'ElasticPremium'
  }
  Consumption: {
    name: 'Y1'
    tier: 'Dynamic'
  }
}
var planKinds = {
  FlexConsumption: 'functionapp'
  ElasticPremium: 'elastic'
  Consumption: 'functionapp'
}
// EP1/Y1: the blob WEBSITE_RUN_FROM_PACKAGE points at, in the deployment container.
var packageBlobName = 'dfc-sentinel-sync.zip'

// Alerts (only when an action group is given).
var deployAlerts = !empty(alertActionGroupResourceId)
var alertRunFailedQuery = 'requests | where name == "SyncTimer" and success == false'
var alertNoSuccessQuery = 'requests | where name == "SyncTimer" and success == true'

// Webhook playbook (only with deployWebhookPlaybook).
var playbookName = 'logic-${appName}-webhook'
var playbookConnectionName = 'azuresentinel-${appName}'

// --- existing resources -----------------------------------------------------------------------

resource sentinelWorkspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' existing = {
  name: workspaceName
  scope: resourceGroup(workspaceSubscriptionId, workspaceResourceGroupName)
}

// --- storage ----------------------------------------------------------------------------------

resource storageAccount 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  // checkov:skip=CKV_AZURE_35:Deny needs a VNet with private or service endpoints; the host reaches its storage over the public endpoint, and with shared keys off every access needs an Entra identity holding a role
  // checkov:skip=CKV_AZURE_206:LRS on purpose: the account holds only the deployment package and the host's timer state, both rebuilt by a redeployment
  // checkov:skip=CKV_AZURE_43:false positive: the name is 'st' plus uniqueString(), lowercase letters and digits, an expression checkov does not evaluate
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
    // The platform's default, written out: Azure services may reach the account (checkov CKV_AZURE_36).
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
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
    value: singleWorkspace ? sentinelWorkspace.properties.customerId : ''
  }
  {
    name: 'SENTINEL_WORKSPACE_RESOURCE_ID'
    value: sentinelWorkspaceResourceIds
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
    name: 'SYNC_RESOLVED_CLASSIFICATION'
    value: syncResolvedClassification
  }
  {
    name: 'SYNC_DISMISSED_CLASSIFICATION'
    value: syncDismissedClassification
  }
  {
    name: 'SYNC_REOPEN_ON_REACTIVATION'
    value: syncReopenOnReactivation ? 'true' : 'false'
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

// EP1/Y1 only (Flex rejects these two settings and has no run-from-package setting). No
// WEBSITE_CONTENTAZUREFILECONNECTIONSTRING / WEBSITE_CONTENTSHARE: Azure Files needs a key, shared
// keys are off, so the app runs from the package blob instead ("Create an app without Azure Files").
var packageAppSettings = [
  {
    name: 'FUNCTIONS_EXTENSION_VERSION'
    value: '~4'
  }
  {
    name: 'FUNCTIONS_WORKER_RUNTIME'
    value: 'custom'
  }
  {
    name: 'WEBSITE_RUN_FROM_PACKAGE'
    value: '${storageAccount.properties.primaryEndpoints.blob}${deploymentContainerName}/${packageBlobName}'
  }
]

// EP1/Y1 with a user-assigned identity: the identity that reads the package blob.
var packageIdentityAppSettings = [
  {
    name: 'WEBSITE_RUN_FROM_PACKAGE_BLOB_MI_RESOURCE_ID'
    value: userAssignedIdentityResourceId
  }
]

var flexFunctionAppConfig = {
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

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  // checkov:skip=CKV_AZURE_225:zone redundancy is not offered on Consumption (Y1) and depends on the region on FC1/EP1; a missed timer tick is taken by the next one
  name: planName
  location: location
  tags: tags
  kind: planKinds[hostingPlan]
  sku: planSkus[hostingPlan]
  properties: {
    reserved: true
  }
}

resource functionApp 'Microsoft.Web/sites@2024-04-01' = {
  // checkov:skip=CKV_AZURE_16:false positive: the app always has a managed identity, system- or user-assigned, chosen by an expression checkov does not evaluate
  // checkov:skip=CKV_AZURE_71:false positive: the app always has a managed identity, system- or user-assigned, chosen by an expression checkov does not evaluate
  // checkov:skip=CKV_AZURE_222:the Sentinel playbook (a Logic App) calls the webhook over the public endpoint; private access needs a VNet and a private endpoint; every call needs the function key over TLS 1.2
  // checkov:skip=CKV_AZURE_17:callers (the playbook's HTTP action) present no client certificate; each call is authenticated by the function key over TLS 1.2
  // checkov:skip=CKV_AZURE_212:serverless plans (Flex Consumption, Consumption, Elastic Premium) are scaled by the platform; there is no worker count to set
  // checkov:skip=CKV_AZURE_213:App Service health check is not offered on Consumption and Flex Consumption; the Functions host probes the handler's readiness itself
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
    // Hardening (docs/deploy.md, "What the templates harden"): HTTPS only, TLS 1.2 for the app and
    // its SCM endpoint, no FTP, HTTP/2.
    httpsOnly: true
    siteConfig: {
      minTlsVersion: '1.2'
      scmMinTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
      // EP1/Y1: empty, the value the platform's runtime-stack list gives for `custom` on Linux.
      // Flex: not set (the runtime is functionAppConfig.runtime).
      linuxFxVersion: isFlex ? null : ''
      // The condition `(a && b) ? x : []` is parenthesised for pycep-parser 0.7.1 (the offline
      // checker's parser), which reads `a && b ? x : y` as `a && (b ? x : y)`; Bicep reads both alike.
      appSettings: concat(contractAppSettings, platformAppSettings, useUserAssignedIdentity ? userAssignedAppSettings : [], runsFromPackage ? packageAppSettings : [], (runsFromPackage && useUserAssignedIdentity) ? packageIdentityAppSettings : [])
    }
    functionAppConfig: isFlex ? flexFunctionAppConfig : null
  }
  dependsOn: [
    deploymentContainer
  ]
}

// No basic (user name and password) publishing credentials, for FTP or for the SCM site:
// deployments authenticate with Microsoft Entra ID.
resource ftpPublishing 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: functionApp
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scmPublishing 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: functionApp
  name: 'scm'
  properties: {
    allow: false
  }
}

var principalId = useUserAssignedIdentity ? userAssignedPrincipalId : functionApp.identity.principalId

// --- alerts (optional) ------------------------------------------------------------------------

// A failed run answers the host 500, so its invocation is a failed `requests` row (an incomplete
// run answers 200). Stateful (autoMitigate): one notification when it fires, one when it resolves.
resource runFailedAlert 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = if (deployAlerts) {
  name: 'alert-${appName}-run-failed'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'dfc-sentinel-sync ${appName}: a SyncTimer run failed'
    description: 'A SyncTimer invocation failed in the last 15 minutes (requests, success == false). Its log lines carry the run id (docs/deploy.md).'
    severity: 2
    enabled: true
    scopes: [
      appInsights.id
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    criteria: {
      allOf: [
        {
          query: alertRunFailedQuery
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: true
    actions: {
      actionGroups: [
        alertActionGroupResourceId
      ]
    }
  }
}

// No successful run for an hour: the app is down, not published, failing every run, or its
// schedule (SYNC_SCHEDULE) is slower than hourly.
resource noSuccessAlert 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = if (deployAlerts) {
  name: 'alert-${appName}-no-success'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'dfc-sentinel-sync ${appName}: no successful SyncTimer run for an hour'
    description: 'No SyncTimer invocation succeeded in the last hour (requests, success == true). See docs/deploy.md.'
    severity: 1
    enabled: true
    scopes: [
      appInsights.id
    ]
    evaluationFrequency: 'PT15M'
    windowSize: 'PT1H'
    criteria: {
      allOf: [
        {
          query: alertNoSuccessQuery
          timeAggregation: 'Count'
          operator: 'LessThan'
          threshold: 1
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: true
    actions: {
      actionGroups: [
        alertActionGroupResourceId
      ]
    }
  }
}

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

// The same two roles on every additional workspace, at its own subscription and resource group.
// The assignments are named guid(workspace id, principal, role) inside the module, like the
// primary's; the deployment name carries the list index and a hash of the app and the workspace.
module additionalWorkspaceAccess 'modules/workspace-access.bicep' = [for (id, i) in additionalWorkspaceResourceIds: {
  name: 'workspace-access-${i}-${uniqueString(functionApp.id, id)}'
  scope: resourceGroup(split(id, '/')[2], split(id, '/')[4])
  params: {
    workspaceName: split(id, '/')[8]
    principalId: principalId
  }
}]

// --- webhook playbook and automation rules (optional) ------------------------------------------

module webhookPlaybook 'modules/webhook-playbook.bicep' = if (deployWebhookPlaybook) {
  name: 'webhook-playbook-${uniqueString(functionApp.id)}'
  params: {
    location: location
    tags: tags
    playbookName: playbookName
    connectionName: playbookConnectionName
    functionAppName: functionApp.name
    sentinelAutomationPrincipalId: sentinelAutomationPrincipalId
  }
}

module webhookAutomation 'modules/webhook-automation.bicep' = if (deployWebhookPlaybook) {
  name: 'webhook-automation-${uniqueString(functionApp.id)}'
  scope: resourceGroup(workspaceSubscriptionId, workspaceResourceGroupName)
  params: {
    workspaceName: workspaceName
    playbookResourceId: webhookPlaybook.outputs.playbookResourceId
    principalId: webhookPlaybook.outputs.playbookPrincipalId
    appName: appName
  }
}

// --- workbook (optional, default on) -----------------------------------------------------------

module workbook 'modules/workbook.bicep' = if (deployWorkbook) {
  name: 'workbook-${uniqueString(functionApp.id)}'
  scope: resourceGroup(workspaceSubscriptionId, workspaceResourceGroupName)
  params: {
    workspaceName: workspaceName
    appInsightsResourceId: appInsights.id
    appName: appName
    location: location
    tags: tags
  }
}

// --- outputs ----------------------------------------------------------------------------------

output functionAppName string = functionApp.name
output functionAppHostName string = functionApp.properties.defaultHostName
output principalId string = principalId
// EP1/Y1: upload the package here (container app-package, blob dfc-sentinel-sync.zip).
output storageAccountName string = storageAccount.name
