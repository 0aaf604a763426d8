//! The IAM policies `template.yaml` gives each function, read back so that a test can hold them
//! against the AWS requests the function's handler really made (seen by [`crate::aws_proxy`]).
//! moto does not enforce IAM: without this, a request the policy does not allow passes every
//! test and fails only when deployed.
//!
//! The reader knows the template's own layout (a function's `Policies:` as a list of
//! `Statement:` entries with `Sid`, `Effect`, `Action` and `Resource`, each inline or as a block
//! list), not YAML at large: a layout it cannot read fails the test rather than passing it.

use crate::aws_proxy::AwsCall;
use std::collections::BTreeSet;

/// One `Allow` statement of a function's policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    pub sid: String,
    pub actions: Vec<String>,
    /// As written: `!GetAtt StateTable.Arn`, `!Sub arn:…:parameter${SecretPrefix}/*`, `"*"`.
    pub resources: Vec<String>,
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

fn meaningful(line: &str) -> bool {
    let trimmed = line.trim();
    !trimmed.is_empty() && !trimmed.starts_with('#')
}

/// `[a, b]`, `a`, or (when the key's value is empty) the `- a` lines below it.
fn values(inline: &str, below: &[&str]) -> Vec<String> {
    let inline = inline.trim();
    if let Some(list) = inline.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
        return list.split(',').map(|v| v.trim().to_string()).collect();
    }
    if !inline.is_empty() {
        return vec![inline.to_string()];
    }
    below
        .iter()
        .filter(|l| meaningful(l))
        .map(|l| l.trim().trim_start_matches("- ").trim().to_string())
        .collect()
}

/// The statements of `function`'s policies (its logical id, e.g. `ApplyFunction`).
///
/// # Panics
/// When the template has no such function, or a statement it cannot read.
pub fn statements(template: &str, function: &str) -> Vec<Statement> {
    let lines: Vec<&str> = template.lines().collect();
    let header = format!("  {function}:");
    let start = lines
        .iter()
        .position(|l| l.trim_end() == header)
        .unwrap_or_else(|| panic!("template.yaml has no resource {function}"));
    let end = (start + 1..lines.len())
        .find(|&i| meaningful(lines[i]) && indent(lines[i]) <= 2)
        .unwrap_or(lines.len());
    let block = &lines[start + 1..end];
    let policies = block
        .iter()
        .position(|l| l.trim() == "Policies:")
        .unwrap_or_else(|| panic!("{function} has no Policies"));
    let policies_indent = indent(block[policies]);
    let body: Vec<&str> = block[policies + 1..]
        .iter()
        .copied()
        .take_while(|l| !meaningful(l) || indent(l) > policies_indent)
        .collect();
    // A statement starts with `- Sid:` (every statement of the template names itself).
    let starts: Vec<usize> = (0..body.len())
        .filter(|&i| body[i].trim_start().starts_with("- Sid:"))
        .collect();
    assert!(!starts.is_empty(), "{function}: no statement with a Sid");
    let mut statements = Vec::new();
    for (n, &first) in starts.iter().enumerate() {
        let last = starts.get(n + 1).copied().unwrap_or(body.len());
        let key_indent = indent(body[first]) + 2;
        let lines = &body[first..last];
        let sid = lines[0]
            .trim()
            .trim_start_matches("- Sid:")
            .trim()
            .to_string();
        let (mut effect, mut actions, mut resources) = (String::new(), Vec::new(), Vec::new());
        for (i, line) in lines.iter().enumerate().skip(1) {
            if !meaningful(line) || indent(line) != key_indent {
                continue;
            }
            let below: Vec<&str> = lines[i + 1..]
                .iter()
                .copied()
                .take_while(|l| !meaningful(l) || indent(l) > key_indent)
                .collect();
            let (key, value) = line.trim().split_once(':').unwrap_or((line.trim(), ""));
            match key {
                "Effect" => effect = value.trim().to_string(),
                "Action" => actions = values(value, &below),
                "Resource" => resources = values(value, &below),
                _ => {}
            }
        }
        assert_eq!(
            effect, "Allow",
            "{function} {sid}: only Allow statements are read"
        );
        assert!(!actions.is_empty(), "{function} {sid}: no Action read");
        assert!(!resources.is_empty(), "{function} {sid}: no Resource read");
        statements.push(Statement {
            sid,
            actions,
            resources,
        });
    }
    statements
}

/// The IAM action a request needs: SQS's batch requests are authorised as their single ones.
pub fn iam_action(call: &AwsCall) -> String {
    let operation = match (call.service.as_str(), call.operation.as_str()) {
        ("sqs", "SendMessageBatch") => "SendMessage",
        ("sqs", "DeleteMessageBatch") => "DeleteMessage",
        ("sqs", "ChangeMessageVisibilityBatch") => "ChangeMessageVisibility",
        (_, operation) => operation,
    };
    format!("{}:{operation}", call.service)
}

/// How the test's AWS names read in the template.
pub struct Names<'a> {
    /// A DynamoDB table's or SQS queue's name in the test, and its logical id in the template
    /// (`("state", "StateTable")`, `("changes", "ChangesQueue")`).
    pub resources: &'a [(&'a str, &'a str)],
    /// The template's parameters as the test has them (`("SecretPrefix", "/personio-sync")`):
    /// an SSM parameter's ARN is matched with these substituted.
    pub parameters: &'a [(&'a str, &'a str)],
}

/// `pattern` with `*` matching any run of characters.
fn glob(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((head, tail)) => {
            text.starts_with(head) && (head.len()..=text.len()).any(|i| glob(tail, &text[i..]))
        }
    }
}

fn resource_allows(resource: &str, call: &AwsCall, names: &Names) -> bool {
    if resource.trim_matches('"') == "*" {
        return true;
    }
    match call.service.as_str() {
        "dynamodb" | "sqs" => {
            let name = call.target.split(':').next().unwrap_or_default();
            names
                .resources
                .iter()
                .any(|(n, logical)| *n == name && resource.contains(&format!("{logical}.Arn")))
        }
        "ssm" => {
            let Some(path) = resource.split(":parameter").nth(1) else {
                return false;
            };
            let mut path = path.to_string();
            for (parameter, value) in names.parameters {
                path = path.replace(&format!("${{{parameter}}}"), value);
            }
            !path.contains("${") && glob(&path, &call.target)
        }
        _ => false,
    }
}

/// The requests `function`'s policy does not allow, each once, as "action on target".
pub fn denied(template: &str, function: &str, calls: &[AwsCall], names: &Names) -> Vec<String> {
    let statements = statements(template, function);
    let mut denied = BTreeSet::new();
    for call in calls {
        let action = iam_action(call);
        let allowed = statements.iter().any(|s| {
            let acts = s.actions.iter().any(|a| {
                *a == action || a.strip_suffix('*').is_some_and(|p| action.starts_with(p))
            });
            acts && s.resources.iter().any(|r| resource_allows(r, call, names))
        });
        if !allowed {
            denied.insert(format!("{action} on {}", call.target));
        }
    }
    denied.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEMPLATE: &str = "
Resources:
  ApplyFunction:
    Type: AWS::Serverless::Function
    Properties:
      Policies:
        - Statement:
            - Sid: StateReadWrite
              Effect: Allow
              Action: [dynamodb:GetItem, dynamodb:PutItem]
              Resource: !GetAtt StateTable.Arn
            # A comment between statements.
            - Sid: Queues
              Effect: Allow
              Action:
                - sqs:SendMessage
              Resource:
                - !GetAtt ChangesQueue.Arn
            - Sid: Secrets
              Effect: Allow
              Action: [ssm:GetParameter]
              Resource: !Sub arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter${SecretPrefix}/tenants/*

  Other:
    Type: AWS::SQS::Queue
";

    fn call(service: &str, operation: &str, target: &str) -> AwsCall {
        AwsCall {
            service: service.into(),
            operation: operation.into(),
            target: target.into(),
            started_us: 0,
            ended_us: 0,
        }
    }

    const NAMES: Names = Names {
        resources: &[("state", "StateTable"), ("changes", "ChangesQueue")],
        parameters: &[("SecretPrefix", "/ps")],
    };

    #[test]
    fn the_statements_are_read_inline_and_as_block_lists() {
        let read = statements(TEMPLATE, "ApplyFunction");
        assert_eq!(read.len(), 3);
        assert_eq!(read[0].actions, ["dynamodb:GetItem", "dynamodb:PutItem"]);
        assert_eq!(read[1].actions, ["sqs:SendMessage"]);
        assert_eq!(read[1].resources, ["!GetAtt ChangesQueue.Arn"]);
    }

    #[test]
    fn a_request_outside_the_policy_is_denied() {
        let calls = [
            call("dynamodb", "GetItem", "state:settings"),
            call("dynamodb", "UpdateItem", "state:employee"),
            call("sqs", "SendMessageBatch", "changes"),
            call("sqs", "SendMessage", "sync-requests"),
            call("ssm", "GetParameter", "/ps/tenants/acme/secret"),
            call("ssm", "GetParameter", "/ps/acme/secret"),
        ];
        assert_eq!(
            denied(TEMPLATE, "ApplyFunction", &calls, &NAMES),
            [
                "dynamodb:UpdateItem on state:employee",
                "sqs:SendMessage on sync-requests",
                "ssm:GetParameter on /ps/acme/secret",
            ]
        );
    }
}
