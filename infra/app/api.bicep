// The Functions app on Flex Consumption (FC1), Python 3.11, running as the user-assigned
// identity: host storage, the deployment package and telemetry all use that identity, so
// no key or connection string is stored anywhere. The Logic App callback URL (a secret) is
// read here, at deploy time, straight into an app setting; it is never a template output.

@description('Name of the function app.')
param name string
param location string
param tags object = {}

@description('Resource id of the Flex Consumption (FC1) plan.')
param planId string

@description('Storage account for the Functions host, Durable Functions and the sweeper\'s tables.')
param storageAccountName string

@description('Blob container that holds the deployment package.')
param deploymentContainerName string

param identityId string
param identityClientId string
param applicationInsightsName string

@description('The alert Logic App and its request trigger, whose callback URL becomes LOGIC_APP_WEBHOOK_URL.')
param alertWorkflowName string
param alertTriggerName string

@description('The sweeper\'s own app settings (name: value), see main.bicep.')
param sweeperSettings object

@description('Most instances Flex Consumption may scale out to.')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 40

@allowed([
  2048
  4096
])
param instanceMemoryMB int = 2048

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

resource alertWorkflow 'Microsoft.Logic/workflows@2019-05-01' existing = {
  name: alertWorkflowName
}

resource functionApp 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  tags: union(tags, { 'azd-service-name': 'api' })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: planId
    httpsOnly: true
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      runtime: {
        name: 'python'
        version: '3.11'
      }
    }
  }

  resource appSettings 'config' = {
    name: 'appsettings'
    properties: union(sweeperSettings, {
      AzureWebJobsStorage__credential: 'managedidentity'
      AzureWebJobsStorage__clientId: identityClientId
      AzureWebJobsStorage__blobServiceUri: storage.properties.primaryEndpoints.blob
      AzureWebJobsStorage__queueServiceUri: storage.properties.primaryEndpoints.queue
      AzureWebJobsStorage__tableServiceUri: storage.properties.primaryEndpoints.table
      APPLICATIONINSIGHTS_CONNECTION_STRING: applicationInsights.properties.ConnectionString
      APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
      AZURE_CLIENT_ID: identityClientId
      // As many worker threads as host.json's maxConcurrentActivityFunctions: enabling activities hold one each.
      PYTHON_THREADPOOL_THREAD_COUNT: '32'
      LOGIC_APP_WEBHOOK_URL: listCallbackUrl('${alertWorkflow.id}/triggers/${alertTriggerName}', '2019-05-01').value
    })
  }
}

output name string = functionApp.name
