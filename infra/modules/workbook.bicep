// The dfc-sentinel-sync workbook (Azure Monitor workbook, gallery `sentinel`), deployed by
// main.bicep into the Microsoft Sentinel workspace's resource group when deployWorkbook is true:
// Sentinel's Workbooks page lists the workbooks of that resource group whose sourceId is the
// workspace (category sentinel). Its content is ../workbook/dfc-sync.workbook.json, whose query
// texts are ../workbook/queries/*.kql (tools/infra/workbook.py keeps them equal); the two
// placeholders in it become the workspace's and the Application Insights resource's ids.
// Microsoft.Insights/workbooks properties: Azure/bicep-types-az, applicationinsights 2023-06-01.

targetScope = 'resourceGroup'

@description('Name of the Log Analytics workspace that Microsoft Sentinel is enabled on (in this resource group).')
param workspaceName string

@description('Resource id of the function app\'s Application Insights resource (the failed-runs part).')
param appInsightsResourceId string

@description('Function app name, for the display name.')
param appName string

@description('Region of the workbook resource.')
param location string

@description('Tags applied to the workbook.')
param tags object

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' existing = {
  name: workspaceName
}

resource workbook 'Microsoft.Insights/workbooks@2023-06-01' = {
  name: guid(workspace.id, appInsightsResourceId, 'dfc-sentinel-sync-workbook')
  location: location
  tags: tags
  kind: 'shared'
  properties: {
    displayName: 'dfc-sentinel-sync (${appName})'
    category: 'sentinel'
    sourceId: workspace.id
    version: 'Notebook/1.0'
    serializedData: replace(replace(string(loadJsonContent('../workbook/dfc-sync.workbook.json')), '__SENTINEL_WORKSPACE_RESOURCE_ID__', workspace.id), '__APP_INSIGHTS_RESOURCE_ID__', appInsightsResourceId)
  }
}

output workbookResourceId string = workbook.id
