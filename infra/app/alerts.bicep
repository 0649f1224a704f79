// The alert workflow: a Consumption Logic App whose "When a HTTP request is received"
// trigger takes the committed alert schema, keeps alerts at or above a minimum severity,
// and posts them to a Teams channel (Teams connector, "Post message in a chat or channel")
// and/or e-mails them (Office 365 Outlook, "Send an email (V2)"). The retired Office 365
// incoming-webhook connector for Teams is not used. API connections need a one-time
// sign-in in the portal after the first deployment (docs/alerts.md).
// The trigger's callback URL is a secret: this file never outputs it.

@description('Name of the Logic App.')
param name string
param location string
param tags object = {}

@description('Alerts below this severity are accepted (202) but not forwarded.')
@allowed([
  'info'
  'warning'
  'error'
])
param minimumSeverity string = 'warning'

@description('E-mail recipients, separated by semicolons; blank for no e-mail.')
param emailRecipients string = ''

@description('Teams team (group) id; blank, or blank channel id, for no Teams message.')
param teamsGroupId string = ''

@description('Teams channel id, like 19:...@thread.tacv2.')
param teamsChannelId string = ''

var triggerName = 'manual' // the key under definition.triggers below
var alertSchema = loadJsonContent('../../schemas/alert-payload.v1.schema.json')
var sendEmail = !empty(emailRecipients)
var postToTeams = !empty(teamsGroupId) && !empty(teamsChannelId)
var teamsApiId = subscriptionResourceId('Microsoft.Web/locations/managedApis', location, 'teams')
var office365ApiId = subscriptionResourceId('Microsoft.Web/locations/managedApis', location, 'office365')
var shownItems = 25

resource teamsConnection 'Microsoft.Web/connections@2016-06-01' = if (postToTeams) {
  name: '${name}-teams'
  location: location
  tags: tags
  properties: {
    displayName: 'Arc sweeper alerts: Microsoft Teams'
    api: {
      id: teamsApiId
    }
  }
}

resource office365Connection 'Microsoft.Web/connections@2016-06-01' = if (sendEmail) {
  name: '${name}-office365'
  location: location
  tags: tags
  properties: {
    displayName: 'Arc sweeper alerts: Office 365 Outlook'
    api: {
      id: office365ApiId
    }
  }
}

var connections = union(
  postToTeams ? {
    teams: {
      connectionId: teamsConnection.id
      connectionName: teamsConnection.name
      id: teamsApiId
    }
  } : {},
  sendEmail ? {
    office365: {
      connectionId: office365Connection.id
      connectionName: office365Connection.name
      id: office365ApiId
    }
  } : {}
)

// Workflow expressions (Logic Apps' own language, evaluated at run time).
var subject = '[@{toUpper(triggerBody()?[\'severity\'])}] Arc agent sweeper: @{triggerBody()?[\'summary\']}'
var messageHtml = '<p><b>@{triggerBody()?[\'summary\']}</b></p><p>Severity: @{triggerBody()?[\'severity\']} | kind: @{triggerBody()?[\'kind\']} | run: @{triggerBody()?[\'runId\']} | trigger: @{triggerBody()?[\'trigger\']} | dry run: @{triggerBody()?[\'dryRun\']}</p><p>Needing attention: @{triggerBody()?[\'attention\']?[\'total\']} (first @{min(${shownItems}, triggerBody()?[\'attention\']?[\'returned\'])} below; the full list is in the run\'s tables)</p>@{body(\'Attention_table\')}<p>@{triggerBody()?[\'error\']}</p><p>Run status: @{triggerBody()?[\'links\']?[\'runStatusUrl\']}</p>'

var teamsActions = postToTeams ? {
  Post_message_in_Teams_channel: {
    type: 'ApiConnection'
    runAfter: {}
    inputs: {
      host: {
        connection: {
          name: '@parameters(\'$connections\')[\'teams\'][\'connectionId\']'
        }
      }
      method: 'post'
      path: '/beta/teams/conversation/message/poster/@{encodeURIComponent(\'Flow bot\')}/location/@{encodeURIComponent(\'Channel\')}'
      body: {
        recipient: {
          groupId: '@parameters(\'teamsGroupId\')'
          channelId: '@parameters(\'teamsChannelId\')'
        }
        messageBody: messageHtml
      }
    }
  }
} : {}

var emailActions = sendEmail ? {
  Send_an_email_V2: {
    type: 'ApiConnection'
    runAfter: {}
    inputs: {
      host: {
        connection: {
          name: '@parameters(\'$connections\')[\'office365\'][\'connectionId\']'
        }
      }
      method: 'post'
      path: '/v2/Mail'
      body: {
        To: '@parameters(\'emailRecipients\')'
        Subject: subject
        Body: messageHtml
        Importance: '@{if(equals(triggerBody()?[\'severity\'], \'error\'), \'High\', \'Normal\')}'
      }
    }
  }
} : {}

resource workflow 'Microsoft.Logic/workflows@2019-05-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    state: 'Enabled'
    definition: {
      '$schema': 'https://schema.management.azure.com/providers/Microsoft.Logic/schemas/2016-06-01/workflowdefinition.json#'
      contentVersion: '1.0.0.0'
      parameters: {
        '$connections': {
          type: 'Object'
          defaultValue: {}
        }
        minimumSeverity: {
          type: 'String'
          defaultValue: 'warning'
          allowedValues: [
            'info'
            'warning'
            'error'
          ]
        }
        severityRank: {
          type: 'Object'
          defaultValue: {
            info: 1
            warning: 2
            error: 3
          }
        }
        emailRecipients: {
          type: 'String'
          defaultValue: ''
        }
        teamsGroupId: {
          type: 'String'
          defaultValue: ''
        }
        teamsChannelId: {
          type: 'String'
          defaultValue: ''
        }
      }
      triggers: {
        manual: {
          type: 'Request'
          kind: 'Http'
          operationOptions: 'EnableSchemaValidation'
          inputs: {
            method: 'POST'
            schema: alertSchema
          }
        }
      }
      actions: {
        Attention_table: {
          type: 'Table'
          runAfter: {}
          inputs: {
            from: '@take(triggerBody()?[\'attention\']?[\'items\'], ${shownItems})'
            format: 'HTML'
            columns: [
              {
                header: 'Kind'
                value: '@item()?[\'kind\']'
              }
              {
                header: 'Name'
                value: '@item()?[\'name\']'
              }
              {
                header: 'Code'
                value: '@item()?[\'code\']'
              }
              {
                header: 'Since'
                value: '@item()?[\'since\']'
              }
              {
                header: 'Portal'
                value: '@item()?[\'portalUrl\']'
              }
            ]
          }
        }
        Severity_at_or_above_minimum: {
          type: 'If'
          runAfter: {
            Attention_table: [
              'Succeeded'
            ]
          }
          expression: {
            and: [
              {
                greaterOrEquals: [
                  '@parameters(\'severityRank\')[triggerBody()?[\'severity\']]'
                  '@parameters(\'severityRank\')[parameters(\'minimumSeverity\')]'
                ]
              }
            ]
          }
          actions: union(teamsActions, emailActions)
          else: {
            actions: {}
          }
        }
      }
      outputs: {}
    }
    parameters: {
      '$connections': {
        value: connections
      }
      minimumSeverity: {
        value: minimumSeverity
      }
      emailRecipients: {
        value: emailRecipients
      }
      teamsGroupId: {
        value: teamsGroupId
      }
      teamsChannelId: {
        value: teamsChannelId
      }
    }
  }
}

output name string = workflow.name
output triggerName string = triggerName
