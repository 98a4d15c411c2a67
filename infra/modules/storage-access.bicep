// Storage Blob Data Owner for the function app's identity on its own storage account.
// The Flex Consumption plan reads the deployment package from a blob container with the app's
// identity, and the Functions host keeps the timer's singleton lock and schedule monitor in
// blobs (AzureWebJobsStorage__* identity-based connection). Shared keys are disabled on the
// account, so this role is the only way in.
//
// A module (not an inline resource in main.bicep) so the assignment name can use the principal
// id, which is only known once the function app exists: guid(scope, principalId, roleDefinitionId).

targetScope = 'resourceGroup'

@description('Name of the function app\'s storage account (in this resource group).')
param storageAccountName string

@description('Object (principal) id of the identity the function app runs as.')
param principalId string

var storageBlobDataOwnerRoleId = 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'

resource storageAccount 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource blobDataOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storageAccount.id, principalId, storageBlobDataOwnerRoleId)
  scope: storageAccount
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataOwnerRoleId)
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: 'dfc-sentinel-sync: deployment package and Functions host storage'
  }
}

output roleAssignmentId string = blobDataOwner.id
