// The same roles as subscription.bicep, for every subscription under a management group.
// A subscription-scope deployment (azd up) cannot reach a management group, so deploy this
// file on its own, as someone allowed to assign roles there (see docs/deployment.md):
//   az deployment mg create --management-group-id <mg> --location <region> \
//     --template-file infra/scope-roles/management-group.bicep --parameters principalId=<id> environmentName=<azd env>
targetScope = 'managementGroup'

@description('Object id of the sweeper\'s user-assigned managed identity (azd env get-value SWEEPER_IDENTITY_PRINCIPAL_ID).')
param principalId string

@description('The azd environment: the custom role is named and keyed by it, so removing one environment never removes another\'s role.')
@minLength(1)
@maxLength(64)
param environmentName string

var sweeperRole = loadJsonContent('../sweeper-role.json')
var readerRoleId = 'acdd72a7-3385-48ef-bd42-f606fba81ae7'

resource machineWriterRole 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(managementGroup().id, sweeperRole.roleName, environmentName)
  properties: {
    roleName: '${sweeperRole.roleName} (${environmentName}, ${managementGroup().name})'
    description: sweeperRole.description
    type: 'CustomRole'
    permissions: [
      {
        actions: sweeperRole.actions
        notActions: []
      }
    ]
    assignableScopes: [
      managementGroup().id
    ]
  }
}

resource readerAssignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(managementGroup().id, principalId, readerRoleId)
  properties: {
    roleDefinitionId: tenantResourceId('Microsoft.Authorization/roleDefinitions', readerRoleId)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

resource machineWriterAssignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(managementGroup().id, principalId, machineWriterRole.id)
  properties: {
    roleDefinitionId: machineWriterRole.id
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

output customRoleId string = machineWriterRole.id
