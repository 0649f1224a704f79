// Arc agent auto-upgrade sweeper: everything `azd up` deploys (docs/deployment.md).
// A resource group with the Functions app (Flex Consumption, Python 3.11), its user-assigned
// identity, storage without shared keys, Application Insights with Entra ID auth, the alert
// Logic App, and the roles the sweeper needs at the swept subscription.
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('azd environment name; names the resource group and seeds resource names.')
param environmentName string

@minLength(1)
@description('Region of every resource; it must offer Flex Consumption.')
@metadata({
  azd: {
    type: 'location'
  }
})
param location string

@description('Resource group to create; blank for rg-<environmentName>.')
param resourceGroupName string = ''

// --- the sweeper's settings, as app settings (strings); arc_sweeper/settings.py checks and documents each ---

@description('SWEEP_SCHEDULE: 6-field NCRONTAB, UTC.')
param sweepSchedule string = '0 30 3 * * *'

@description('SUBSCRIPTION_ALLOW_LIST: subscription GUIDs to sweep; blank for every subscription the identity can read.')
param subscriptionAllowList string = ''

@description('SUBSCRIPTION_DENY_LIST: subscription GUIDs never to sweep.')
param subscriptionDenyList string = ''

@description('EXCLUSION_TAG: name=value; machines carrying it are reported, never changed. Blank for none.')
param exclusionTag string = 'arc-sweeper=exclude'

@description('DRY_RUN: true (the default for a first deployment) reports what would change and changes nothing.')
@allowed([
  'true'
  'false'
])
param dryRun string = 'true'

@description('FOLLOW_UP_WINDOW: how long enabled machines are followed (ISO 8601 duration).')
param followUpWindow string = 'P7D'

@description('POLL_INTERVAL: how often followed machines are checked (ISO 8601 duration, at most 6 days).')
param pollInterval string = 'PT12H'

@description('HYBRIDCOMPUTE_API_VERSION: api-version of the machines PATCH and reads.')
param hybridComputeApiVersion string = '2025-01-13'

@description('TABLE_PREFIX: prefix of the result tables (<prefix>runs, machines, fleet, subscriptions).')
param tablePrefix string = 'arcsweep'

@description('TASKHUB_NAME: the Durable Functions task hub (host.json reads %TASKHUB_NAME%): letters and digits, 3-45, starting with a letter.')
@minLength(3)
@maxLength(45)
param taskHubName string = 'ArcSweeper'

@description('MAX_PARALLEL_WRITES_PER_SUBSCRIPTION: most PATCH calls in flight per subscription (1-64); each starts at 4 and doubles while ARM answers cleanly.')
param maxParallelWritesPerSubscription string = '32'

@description('EXTENSION_UPGRADE_MODE: off, report (read and report machine extensions) or enable (also PATCH supported extensions whose automatic upgrade is off; the custom role then gains machines/extensions read and write).')
@allowed([
  'off'
  'report'
  'enable'
])
param extensionUpgradeMode string = 'report'

@description('EXTENSION_DENY_LIST: extension types never changed (type or publisher.type, comma-separated).')
param extensionDenyList string = ''

// --- alerts ---

@description('Alerts below this severity are not forwarded by the Logic App.')
@allowed([
  'info'
  'warning'
  'error'
])
param alertMinimumSeverity string = 'warning'

@description('E-mail recipients (semicolon-separated); blank for no e-mail.')
param alertEmailRecipients string = ''

@description('Teams team (group) id for alerts; blank for no Teams message.')
param alertTeamsGroupId string = ''

@description('Teams channel id for alerts.')
param alertTeamsChannelId string = ''

// --- where the sweeper may read and write machines ---

@description('subscription: azd assigns Reader and the machines read/write role on this subscription. managementGroup: deploy infra/scope-roles/management-group.bicep separately. none: assign roles yourself.')
@allowed([
  'subscription'
  'managementGroup'
  'none'
])
param roleAssignmentScope string = 'subscription'

var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))

// Bicep has no pattern decorator (Azure/bicep#9229). The Azure Storage backend names queues and
// tables after the task hub, so it must be letters and digits starting with a letter: anything else
// stops the deployment here, before a resource is made, with this message.
var letters = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ'
var lettersAndDigits = '${letters}0123456789'
var taskHubNameIsValid = contains(letters, first(taskHubName)) && empty(filter(range(0, length(taskHubName)), i => !contains(lettersAndDigits, substring(taskHubName, i, 1))))
var checkedTaskHubName = taskHubNameIsValid ? taskHubName : json('taskHubName must be letters and digits, starting with a letter')
var tags = {
  'azd-env-name': environmentName
}
var functionAppName = 'func-arcsweep-${resourceToken}'
var deploymentContainerName = 'app-package'

var sweeperSettings = {
  SWEEP_SCHEDULE: sweepSchedule
  SUBSCRIPTION_ALLOW_LIST: subscriptionAllowList
  SUBSCRIPTION_DENY_LIST: subscriptionDenyList
  EXCLUSION_TAG: exclusionTag
  DRY_RUN: dryRun
  FOLLOW_UP_WINDOW: followUpWindow
  POLL_INTERVAL: pollInterval
  HYBRIDCOMPUTE_API_VERSION: hybridComputeApiVersion
  TABLE_PREFIX: tablePrefix
  TASKHUB_NAME: checkedTaskHubName
  MAX_PARALLEL_WRITES_PER_SUBSCRIPTION: maxParallelWritesPerSubscription
  EXTENSION_UPGRADE_MODE: extensionUpgradeMode
  EXTENSION_DENY_LIST: extensionDenyList
}

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: !empty(resourceGroupName) ? resourceGroupName : 'rg-${environmentName}'
  location: location
  tags: tags
}

module identity 'br/public:avm/res/managed-identity/user-assigned-identity:0.4.1' = {
  name: 'identity'
  scope: rg
  params: {
    name: 'id-arcsweep-${resourceToken}'
    location: location
    tags: tags
  }
}

module storage 'br/public:avm/res/storage/storage-account:0.8.3' = {
  name: 'storage'
  scope: rg
  params: {
    name: 'starcsweep${resourceToken}'
    location: location
    tags: tags
    skuName: 'Standard_LRS'
    allowSharedKeyAccess: false
    allowBlobPublicAccess: false
    minimumTlsVersion: 'TLS1_2'
    dnsEndpointType: 'Standard'
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
    blobServices: {
      containers: [
        {
          name: deploymentContainerName
        }
      ]
    }
  }
}

module logAnalytics 'br/public:avm/res/operational-insights/workspace:0.11.1' = {
  name: 'logAnalytics'
  scope: rg
  params: {
    name: 'log-arcsweep-${resourceToken}'
    location: location
    tags: tags
    dataRetention: 30
  }
}

module applicationInsights 'br/public:avm/res/insights/component:0.6.0' = {
  name: 'applicationInsights'
  scope: rg
  params: {
    name: 'appi-arcsweep-${resourceToken}'
    location: location
    tags: tags
    workspaceResourceId: logAnalytics.outputs.resourceId
    disableLocalAuth: true
  }
}

module plan 'br/public:avm/res/web/serverfarm:0.1.1' = {
  name: 'plan'
  scope: rg
  params: {
    name: 'plan-arcsweep-${resourceToken}'
    location: location
    tags: tags
    sku: {
      name: 'FC1'
      tier: 'FlexConsumption'
    }
    reserved: true
  }
}

module alerts 'app/alerts.bicep' = {
  name: 'alerts'
  scope: rg
  params: {
    name: 'logic-arcsweep-alerts-${resourceToken}'
    location: location
    tags: tags
    minimumSeverity: alertMinimumSeverity
    emailRecipients: alertEmailRecipients
    teamsGroupId: alertTeamsGroupId
    teamsChannelId: alertTeamsChannelId
  }
}

module api 'app/api.bicep' = {
  name: 'api'
  scope: rg
  params: {
    name: functionAppName
    location: location
    tags: tags
    planId: plan.outputs.resourceId
    storageAccountName: storage.outputs.name
    deploymentContainerName: deploymentContainerName
    identityId: identity.outputs.resourceId
    identityClientId: identity.outputs.clientId
    applicationInsightsName: applicationInsights.outputs.name
    alertWorkflowName: alerts.outputs.name
    alertTriggerName: alerts.outputs.triggerName
    sweeperSettings: sweeperSettings
  }
}

module rbac 'app/rbac.bicep' = {
  name: 'rbac'
  scope: rg
  params: {
    principalId: identity.outputs.principalId
    storageAccountName: storage.outputs.name
    applicationInsightsName: applicationInsights.outputs.name
  }
}

module subscriptionRoles 'scope-roles/subscription.bicep' = if (roleAssignmentScope == 'subscription') {
  name: 'subscriptionRoles'
  params: {
    principalId: identity.outputs.principalId
    environmentName: environmentName
    extensionUpgradeMode: extensionUpgradeMode
  }
}

// Names and ids only: nothing here is a secret (the webhook URL stays in the app settings).
output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = api.outputs.name
output SERVICE_API_NAME string = api.outputs.name
output AZURE_STORAGE_ACCOUNT_NAME string = storage.outputs.name
output ALERT_LOGIC_APP_NAME string = alerts.outputs.name
output SWEEPER_IDENTITY_PRINCIPAL_ID string = identity.outputs.principalId
output SWEEPER_IDENTITY_CLIENT_ID string = identity.outputs.clientId
output SWEEPER_ROLE_SCOPE string = roleAssignmentScope
