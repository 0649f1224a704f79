// What the sweeper needs at the subscription it sweeps: Reader (Resource Graph returns only
// what the caller can read) and a custom role with machines read + write (the PATCH).
// Deployed by main.bicep when roleAssignmentScope is 'subscription'.
targetScope = 'subscription'

@description('Object id of the sweeper\'s user-assigned managed identity.')
param principalId string

@description('The azd environment: the custom role is named and keyed by it, so removing one environment never removes another\'s role.')
@minLength(1)
@maxLength(64)
param environmentName string

var sweeperRole = loadJsonContent('../sweeper-role.json')
var readerRoleId = 'acdd72a7-3385-48ef-bd42-f606fba81ae7'

resource machineWriterRole 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(subscription().id, sweeperRole.roleName, environmentName)
  properties: {
    roleName: '${sweeperRole.roleName} (${environmentName}, ${subscription().subscriptionId})'
    description: sweeperRole.description
    type: 'CustomRole'
    permissions: [
      {
        actions: sweeperRole.actions
        notActions: []
      }
    ]
    assignableScopes: [
      subscription().id
    ]
  }
}

resource readerAssignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(subscription().id, principalId, readerRoleId)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', readerRoleId)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

resource machineWriterAssignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(subscription().id, principalId, machineWriterRole.id)
  properties: {
    roleDefinitionId: machineWriterRole.id
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

output customRoleId string = machineWriterRole.id
