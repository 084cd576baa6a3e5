"""Checks that tie template.yaml to the rest of the repository, run by `cargo xtask test`.

* every function in template.yaml is a workspace function crate (rust-cargolambda, its binary),
  and every crate under functions/ is in the template;
* every state machine's DefinitionSubstitutions are exactly the ${...} placeholders of its ASL file,
  each naming the function whose binary the placeholder names (or the work bucket), and every ASL
  file is deployed;
* a state machine with a Distributed Map may start, follow and stop its own executions;
* the CloudTrail event pattern, evaluated with moto's EventBridge matcher, matches the sample
  change events in test-events/ and none of the others;
* every message goes through a configuration set with TLS required, reputation metrics, the
  suppression list for bounces and complaints, and its events on the default bus; the rule for
  those events matches the SES samples in test-events/ses/ (and no change event), and feeds
  handle-email-events; bounce and complaint rates have alarms at SES's review thresholds;
* operations: an alarm topic exists by default (KMS-encrypted), every alarm notifies it, every state
  machine has TimeoutSeconds, logs ALL with execution data to a KMS log group kept at least 365 days,
  and has alarms on ExecutionsFailed, ExecutionsTimedOut, ExecutionsAborted and ExecutionThrottled;
  every function logs to its own log group with retention and KMS; the identity provider has alarms
  on Errors, Throttles and p99 Duration; every dead-letter queue has a depth alarm;
* the identity provider can be reached only as intended: IAM-authorised API with a resource policy
  that lets the invocation role alone call it, a role Transfer can assume only for this account's
  (or one named) server, a direct-invoke permission scoped to the server's ARN, and session
  policies without ACL changes or version deletes by default.

Uses cfn-lint's YAML loader (it understands !Ref and friends) and moto's EventPattern, both from the
project virtualenv. Exits non-zero with one line per problem.
"""

import json
import re
import sys
from pathlib import Path

from cfnlint.decode import cfn_yaml
from moto.events.models import EventPattern

ROOT = Path(__file__).resolve().parent.parent
# The sample events are recorded in this account and region (test-events/README).
PSEUDO = {"AWS::Partition": "aws", "AWS::Region": "ap-southeast-2", "AWS::AccountId": "123456789012"}

# Which sample events a change to an SFTP/ user must (True) or must not (False) start runs for.
EXPECTED_MATCHES = {
    "cloudtrail-put-secret-value.json": True,
    "cloudtrail-update-secret.json": True,
    "cloudtrail-create-secret.json": True,
    "cloudtrail-delete-secret.json": True,
    "cloudtrail-restore-secret.json": True,
    "cloudtrail-admin-change.json": True,
    "cloudtrail-update-secret-version-stage.json": True,
    # A rotation's pending value matches the rule; the workflows see it is not the current one.
    "cloudtrail-put-secret-value-pending.json": True,
    "cloudtrail-unrelated-secret.json": False,
    "cloudtrail-get-secret-value.json": False,
    "scheduled-rule-event.json": False,
}


def camel(binary: str) -> str:
    return "".join(part.capitalize() for part in binary.split("-"))


def resolve(node, template):
    """Resolves the intrinsics the event pattern uses: Ref to a parameter default, Sub."""
    if isinstance(node, dict):
        if set(node) == {"Ref"}:
            name = node["Ref"]
            resource = template["Resources"].get(name, {})
            if resource.get("Type") == "AWS::SES::ConfigurationSet":  # Ref gives its name
                return resolve(resource["Properties"]["Name"], template)
            return PSEUDO.get(name) or template["Parameters"][name]["Default"]
        if set(node) == {"Fn::Sub"}:
            text = node["Fn::Sub"]
            return re.sub(r"\$\{([^}]+)\}", lambda m: str(resolve({"Ref": m.group(1)}, template)), text)
        return {k: resolve(v, template) for k, v in node.items()}
    if isinstance(node, list):
        return [resolve(v, template) for v in node]
    return node


def principal(statement, kind):
    value = statement.get("Principal")
    return value.get(kind) if isinstance(value, dict) else None


def statements(policy):
    return policy.get("Statement", []) if isinstance(policy, dict) else []


def check_identity_provider(template, network):
    """Findings 5, 6 and 9 of the identity provider's review, held against the templates."""
    problems = []
    resources = template["Resources"]
    api = resources["IdentityProviderApi"]["Properties"]
    auth = api.get("Auth", {})
    # 6: IAM authorisation and a resource policy: allow the invocation role, deny everyone else.
    if auth.get("DefaultAuthorizer") != "AWS_IAM":
        problems.append("IdentityProviderApi: DefaultAuthorizer must be AWS_IAM")
    custom = auth.get("ResourcePolicy", {}).get("CustomStatements", [])
    role_arn = {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/${AWS::StackName}-idp-invocation"}
    allows = [s for s in custom if s.get("Effect") == "Allow" and principal(s, "AWS") == role_arn]
    denies = [
        s
        for s in custom
        if s.get("Effect") == "Deny"
        and s.get("Principal") == "*"
        and s.get("Condition", {}).get("StringNotEquals", {}).get("aws:PrincipalArn") == role_arn
    ]
    if not allows or not denies:
        problems.append("IdentityProviderApi: the resource policy must allow the invocation role and deny every other principal")
    role = resources["IdentityProviderInvocationRole"]["Properties"]
    if role.get("RoleName") != {"Fn::Sub": "${AWS::StackName}-idp-invocation"}:
        problems.append("IdentityProviderInvocationRole: its name must be the one the API's resource policy names")
    # 5: the role's trust names the server (or this account's servers) by aws:SourceArn.
    trust = statements(role.get("AssumeRolePolicyDocument"))
    if not any(
        principal(t, "Service") == "transfer.amazonaws.com"
        and "aws:SourceArn" in t.get("Condition", {}).get("ArnLike", {})
        and "aws:SourceAccount" in t.get("Condition", {}).get("StringEquals", {})
        for t in trust
    ):
        problems.append("IdentityProviderInvocationRole: Transfer's trust must carry aws:SourceAccount and aws:SourceArn")
    # 5: no permission lets any Transfer server of the account invoke the function directly.
    for doc, name in [(template, "template.yaml"), (network, "network.yaml")]:
        for logical, res in doc["Resources"].items():
            props = res.get("Properties", {})
            if res.get("Type") == "AWS::Lambda::Permission" and props.get("Principal") == "transfer.amazonaws.com":
                if props.get("SourceArn") != {"Fn::GetAtt": ["TransferServer", "Arn"]}:
                    problems.append(f"{name} {logical}: Transfer's permission must be scoped to the server's ARN")
    permissions = [
        r for r in network["Resources"].values()
        if r.get("Type") == "AWS::Lambda::Permission" and r.get("Properties", {}).get("Principal") == "transfer.amazonaws.com"
    ]
    if len(permissions) != 1:
        problems.append("network.yaml: expected one Lambda permission for the Transfer server")
    variables = resources["IdentityProviderFunction"]["Properties"]["Environment"]["Variables"]
    if variables.get("ALLOWED_SERVER_IDS") != {"Ref": "TransferServerId"}:
        problems.append("IdentityProviderFunction: ALLOWED_SERVER_IDS must be the TransferServerId parameter")
    # 9: no ACL changes or version deletes unless an operator asks for them.
    if template["Parameters"]["SessionPolicyExtraActions"].get("Default") != "":
        problems.append("SessionPolicyExtraActions must default to none")
    if variables.get("SESSION_POLICY_EXTRA_ACTIONS") != {"Ref": "SessionPolicyExtraActions"}:
        problems.append("IdentityProviderFunction: SESSION_POLICY_EXTRA_ACTIONS must be the SessionPolicyExtraActions parameter")
    return 9, problems


def check_distributed_map_permissions(name, props):
    """A Distributed Map starts its children as executions of its own state machine, then follows
    and stops them: without these the run fails at the Map on AWS (moto does not check)."""
    own = props["Name"]["Fn::Sub"] if isinstance(props.get("Name"), dict) else None
    granted = {}
    for policy in props.get("Policies", []):
        for statement in statements(policy):
            if statement.get("Effect") != "Allow":
                continue
            actions = statement.get("Action")
            actions = actions if isinstance(actions, list) else [actions]
            resource = statement.get("Resource")
            text = resource.get("Fn::Sub") if isinstance(resource, dict) else resource
            for action in actions:
                granted.setdefault(action, set()).add(text)
    problems = []
    machine_name = own.split(":stateMachine:")[-1] if own and ":stateMachine:" in own else own
    wanted = {
        "states:StartExecution": f":stateMachine:{machine_name}",
        "states:DescribeExecution": f":execution:{machine_name}/*",
        "states:StopExecution": f":execution:{machine_name}/*",
    }
    for action, suffix in wanted.items():
        if not any(isinstance(r, str) and r.endswith(suffix) for r in granted.get(action, ())):
            problems.append(f"{name}: its Distributed Map needs {action} on ...{suffix}")
    return problems


def check_email_deliverability(template):
    """The configuration set, its events, the rule to handle-email-events and the alarms."""
    problems, checks = [], 0
    resources = template["Resources"]
    sets = [n for n, r in resources.items() if r["Type"] == "AWS::SES::ConfigurationSet"]
    checks += 1
    if len(sets) != 1:
        return checks, [f"expected one SES configuration set, found {sets}"]
    name = sets[0]
    props = resources[name]["Properties"]
    expected = {
        "TLS required": props.get("DeliveryOptions", {}).get("TlsPolicy") == "REQUIRE",
        "reputation metrics on": props.get("ReputationOptions", {}).get("ReputationMetricsEnabled") is True,
        "suppression of BOUNCE and COMPLAINT": sorted(props.get("SuppressionOptions", {}).get("SuppressedReasons", []))
        == ["BOUNCE", "COMPLAINT"],
    }
    for what, ok in expected.items():
        checks += 1
        if not ok:
            problems.append(f"{name}: needs {what}")
    destinations = [
        r["Properties"]["EventDestination"]
        for r in resources.values()
        if r["Type"] == "AWS::SES::ConfigurationSetEventDestination"
        and r["Properties"].get("ConfigurationSetName") == {"Ref": name}
    ]
    wanted = {"BOUNCE", "COMPLAINT", "REJECT", "DELIVERY_DELAY", "RENDERING_FAILURE"}
    checks += 1
    if not any(
        d.get("Enabled") and wanted <= set(d.get("MatchingEventTypes", []))
        and "event-bus/default" in str(resolve(d.get("EventBridgeDestination", {}).get("EventBusArn"), template))
        for d in destinations
    ):
        problems.append(f"{name}: needs an event destination to the default bus for {sorted(wanted)}")
    send = resources["SendEmailFunction"]["Properties"]
    checks += 1
    if send.get("Environment", {}).get("Variables", {}).get("CONFIGURATION_SET") != {"Ref": name}:
        problems.append("SendEmailFunction: CONFIGURATION_SET should be !Ref " + name)

    rules = [
        (n, r) for n, r in resources.items()
        if r["Type"] == "AWS::Events::Rule" and "aws.ses" in r["Properties"].get("EventPattern", {}).get("source", [])
    ]
    checks += 1
    if len(rules) != 1:
        return checks, problems + [f"expected one EventBridge rule for SES events, found {len(rules)}"]
    rule_name, rule = rules[0]
    targets = [t["Arn"].get("Fn::GetAtt", [None])[0] for t in rule["Properties"].get("Targets", [])]
    checks += 1
    if targets != ["HandleEmailEventsFunction"]:
        problems.append(f"{rule_name}: should target HandleEmailEventsFunction, targets {targets}")
    pattern = EventPattern.load(json.dumps(resolve(json.loads(json.dumps(rule["Properties"]["EventPattern"])), template)))
    samples = sorted((ROOT / "test-events" / "ses").glob("*.json"))
    checks += 1
    if len(samples) < 5:
        problems.append("test-events/ses/ should hold the SES event samples (bounce, complaint, delay, reject…)")
    for sample in samples:
        checks += 1
        if not pattern.matches_event(json.loads(sample.read_text())):
            problems.append(f"{rule_name}: pattern should match test-events/ses/{sample.name}")
    for sample in EXPECTED_MATCHES:
        checks += 1
        if pattern.matches_event(json.loads((ROOT / "test-events" / sample).read_text())):
            problems.append(f"{rule_name}: pattern should not match test-events/{sample}")

    alarms = {
        r["Properties"].get("MetricName"): r["Properties"]
        for r in resources.values()
        if r["Type"] == "AWS::CloudWatch::Alarm" and r["Properties"].get("Namespace") == "AWS/SES"
    }
    for metric, threshold in [("Reputation.BounceRate", 0.05), ("Reputation.ComplaintRate", 0.001)]:
        checks += 1
        alarm = alarms.get(metric)
        if alarm is None or float(alarm.get("Threshold", -1)) != threshold or "AlarmActions" not in alarm:
            problems.append(f"needs an alarm on {metric} above {threshold} with the alarm topic as its action")
    return checks, problems


def check_operations(template):
    """Alarms that reach someone, bounded runs, a year of logs."""
    problems, checks = [], 0
    resources = template["Resources"]
    params = template["Parameters"]

    def ref_name(node):
        return node.get("Ref") if isinstance(node, dict) else None

    def log_group_ok(name):
        group = resources.get(name, {})
        props = group.get("Properties", {})
        retention = props.get("RetentionInDays")
        if isinstance(retention, dict):
            retention = params.get(ref_name(retention), {}).get("Default")
        return group.get("Type") == "AWS::Logs::LogGroup" and "KmsKeyId" in props and retention is not None and int(retention) >= 365

    topics = [n for n, r in resources.items() if r["Type"] == "AWS::SNS::Topic"]
    checks += 1
    if len(topics) != 1:
        problems.append(f"expected the stack's alarm topic, found {topics}")
        return checks, problems
    topic = topics[0]
    condition = resources[topic].get("Condition")
    checks += 1
    created_by_default = condition is None or (
        template["Conditions"].get(condition) == {"Fn::Equals": [{"Ref": "AlarmTopicArn"}, ""]}
        and params["AlarmTopicArn"].get("Default") == ""
    )
    if not created_by_default or "KmsMasterKeyId" not in resources[topic]["Properties"]:
        problems.append(f"{topic}: should be created by default (AlarmTopicArn empty) and KMS-encrypted")
    expected_action = [{"Fn::If": [condition, {"Ref": topic}, {"Ref": "AlarmTopicArn"}]}]
    alarms = {n: r["Properties"] for n, r in resources.items() if r["Type"] == "AWS::CloudWatch::Alarm"}
    for name, props in alarms.items():
        checks += 1
        if props.get("AlarmActions") != expected_action:
            problems.append(f"{name}: AlarmActions should be the alarm topic, {expected_action}")

    def alarmed(namespace, metric, dimension, target):
        return any(
            p.get("Namespace") == namespace and p.get("MetricName") == metric
            and {"Name": dimension, "Value": {"Ref": target}} in p.get("Dimensions", [])
            for p in alarms.values()
        )

    for name, res in resources.items():
        if res["Type"] != "AWS::Serverless::StateMachine":
            continue
        props = res["Properties"]
        asl = json.loads((ROOT / props["DefinitionUri"]).read_text())
        checks += 1
        if not isinstance(asl.get("TimeoutSeconds"), int) or asl["TimeoutSeconds"] <= 0:
            problems.append(f"{props['DefinitionUri']}: needs TimeoutSeconds")
        logging = props.get("Logging", {})
        groups = [d.get("CloudWatchLogsLogGroup", {}).get("LogGroupArn", {}).get("Fn::GetAtt", [None])[0]
                  for d in logging.get("Destinations", [])]
        checks += 1
        if logging.get("Level") != "ALL" or logging.get("IncludeExecutionData") is not True or not groups \
                or not all(log_group_ok(g) for g in groups):
            problems.append(f"{name}: needs Logging ALL with execution data to a KMS log group kept >= 365 days")
        for metric in ["ExecutionsFailed", "ExecutionsTimedOut", "ExecutionsAborted", "ExecutionThrottled"]:
            checks += 1
            if not alarmed("AWS/States", metric, "StateMachineArn", name):
                problems.append(f"{name}: needs an alarm on {metric}")
    for name, res in resources.items():
        if res["Type"] != "AWS::Serverless::Function":
            continue
        group = ref_name(res["Properties"].get("LoggingConfig", {}).get("LogGroup"))
        checks += 1
        if not group or not log_group_ok(group):
            problems.append(f"{name}: needs its own log group with KMS and retention >= 365 days")
    for metric in ["Errors", "Throttles", "Duration"]:
        checks += 1
        if not alarmed("AWS/Lambda", metric, "FunctionName", "IdentityProviderFunction"):
            problems.append(f"IdentityProviderFunction: needs an alarm on {metric}")
    dead_letters = set()
    for res in resources.values():
        props = res.get("Properties", {})
        redrive = props.get("RedrivePolicy", {}).get("deadLetterTargetArn", {})
        dead_letters.update(redrive.get("Fn::GetAtt", [None])[:1] if isinstance(redrive, dict) else [])
        targets = props.get("Targets", []) + ([props["Target"]] if "Target" in props else [])
        for target in targets:
            arn = target.get("DeadLetterConfig", {}).get("Arn", {})
            if isinstance(arn, dict) and "Fn::GetAtt" in arn:
                dead_letters.add(arn["Fn::GetAtt"][0])
    dead_letters.discard(None)
    checks += 1
    if not dead_letters:
        problems.append("no dead-letter queue found")
    for queue in sorted(dead_letters):
        checks += 1
        depth = any(
            p.get("Namespace") == "AWS/SQS" and p.get("MetricName") == "ApproximateNumberOfMessagesVisible"
            and {"Name": "QueueName", "Value": {"Fn::GetAtt": [queue, "QueueName"]}} in p.get("Dimensions", [])
            for p in alarms.values()
        )
        if not depth:
            problems.append(f"{queue}: a dead-letter queue needs a depth alarm")
    return checks, problems


def main() -> int:
    problems = []
    checks = 0
    template = cfn_yaml.load(str(ROOT / "template.yaml"))
    resources = template["Resources"]

    functions = {
        name: res
        for name, res in resources.items()
        if res.get("Type") == "AWS::Serverless::Function"
    }
    binaries = {}
    for name, res in functions.items():
        meta = res.get("Metadata", {})
        binary = meta.get("BuildProperties", {}).get("Binary")
        checks += 1
        if meta.get("BuildMethod") != "rust-cargolambda" or not binary:
            problems.append(f"{name}: needs BuildMethod rust-cargolambda and BuildProperties.Binary")
            continue
        binaries[binary] = name
        if name != f"{camel(binary)}Function":
            problems.append(f"{name}: logical id should be {camel(binary)}Function for binary {binary}")
    crates = set()
    for manifest in (ROOT / "functions").glob("*/Cargo.toml"):
        match = re.search(r'^name\s*=\s*"([^"]+)"', manifest.read_text(), re.M)
        if match:
            crates.add(match.group(1))
    checks += 1
    for missing in sorted(crates - set(binaries)):
        problems.append(f"functions/{missing} is not deployed by template.yaml")
    for extra in sorted(set(binaries) - crates):
        problems.append(f"template.yaml deploys {extra}, which is not a crate under functions/")

    deployed_asl = set()
    for name, res in resources.items():
        if res.get("Type") != "AWS::Serverless::StateMachine":
            continue
        props = res["Properties"]
        asl_path = ROOT / props["DefinitionUri"]
        deployed_asl.add(asl_path.name)
        placeholders = set(re.findall(r"\$\{([^}]+)\}", asl_path.read_text()))
        substitutions = props.get("DefinitionSubstitutions", {})
        checks += 1
        if placeholders != set(substitutions):
            problems.append(
                f"{name}: placeholders without substitution {sorted(placeholders - set(substitutions))}, "
                f"substitutions never used {sorted(set(substitutions) - placeholders)}"
            )
        for key, value in substitutions.items():
            if key == "WorkBucketName":
                checks += 1
                if value != {"Ref": "WorkBucket"}:
                    problems.append(f"{name}: WorkBucketName should be !Ref WorkBucket")
                continue
            target = value.get("Fn::GetAtt", [None])[0] if isinstance(value, dict) else None
            binary = next((b for b in binaries if f"{camel(b)}FunctionArn" == key), None)
            checks += 1
            if binary is None or target != binaries[binary]:
                problems.append(f"{name}: {key} should be !GetAtt {camel(key[:-3])}.Arn of a deployed function")
        if '"DISTRIBUTED"' in asl_path.read_text():
            checks += 1
            problems.extend(check_distributed_map_permissions(name, props))
    for asl in sorted(p.name for p in (ROOT / "statemachines").glob("*.asl.json")):
        checks += 1
        if asl not in deployed_asl:
            problems.append(f"statemachines/{asl} is not deployed by template.yaml")

    rules = [
        (name, res["Properties"]["EventPattern"])
        for name, res in template["Resources"].items()
        if res["Type"] == "AWS::Events::Rule"
        and "aws.secretsmanager" in res["Properties"].get("EventPattern", {}).get("source", [])
    ]
    if len(rules) != 1:
        problems.append(f"expected one EventBridge rule for secret changes, found {len(rules)}")
    # The rule feeds a queue, and that queue feeds start-runs in batches.
    for rule_name, _ in rules:
        targets = template["Resources"][rule_name]["Properties"].get("Targets", [])
        queues = [t["Arn"]["Fn::GetAtt"][0] for t in targets if isinstance(t.get("Arn"), dict) and "Fn::GetAtt" in t["Arn"]]
        checks += 1
        feeding = [
            (fn, ev["Properties"])
            for fn, res in functions.items()
            for ev in res["Properties"].get("Events", {}).values()
            if ev.get("Type") == "SQS" and ev["Properties"]["Queue"].get("Fn::GetAtt", [None])[0] in queues
        ]
        if [fn for fn, _ in feeding] != ["StartRunsFunction"]:
            problems.append(f"{rule_name}: its queue should feed start-runs, found {feeding}")
        for _, props in feeding:
            checks += 1
            if props.get("MaximumBatchingWindowInSeconds", 0) < 1 or props.get("BatchSize", 10) < 100:
                problems.append(f"{rule_name}: start-runs should take batches (BatchSize >= 100, a batching window)")
    for rule_name, raw in rules:
        pattern = EventPattern.load(json.dumps(resolve(json.loads(json.dumps(raw)), template)))
        for sample, expected in EXPECTED_MATCHES.items():
            event = json.loads((ROOT / "test-events" / sample).read_text())
            checks += 1
            if pattern.matches_event(event) != expected:
                verb = "should match" if expected else "should not match"
                problems.append(f"{rule_name}: pattern {verb} test-events/{sample}")

    ops_checks, ops_problems = check_operations(template)
    checks += ops_checks
    problems.extend(ops_problems)

    mail_checks, mail_problems = check_email_deliverability(template)
    checks += mail_checks
    problems.extend(mail_problems)

    idp_checks, idp_problems = check_identity_provider(template, cfn_yaml.load(str(ROOT / "network.yaml")))
    checks += idp_checks
    problems.extend(idp_problems)

    for problem in problems:
        print(f"check_templates: {problem}")
    print(f"check_templates: {checks - len(problems)} passed, {len(problems)} failed")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
