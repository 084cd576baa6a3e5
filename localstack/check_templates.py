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
  policies without ACL changes or version deletes by default;
* SES SMTP credential rotation: the SMTP user may only ses:SendRawEmail as the sending identity
  (or through the configuration set) and the template creates no key for it; the secret (its own
  KMS key, no value) rotates every SmtpRotationDays with rotate-smtp-credentials, which Secrets
  Manager alone may invoke, for this secret; the rotation role holds exactly the contract's actions,
  each on the user, the secret, its key or the deployment state machine; the deployment role may
  send the document only to servers with the configured tag, retire keys of the SMTP user only, and
  never read the secret; the SSM document takes the secret's ARN only (no password), never traces
  or prints the credentials, and the deployment outlasts the longest grace period.

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


def as_list(value):
    return value if isinstance(value, list) else [value]


def unwrap_if(node):
    """The branches of an Fn::If (nested ones too), less AWS::NoValue; any other node as it is."""
    if isinstance(node, dict) and set(node) == {"Fn::If"}:
        for branch in node["Fn::If"][1:]:
            yield from unwrap_if(branch)
    elif node != {"Ref": "AWS::NoValue"}:
        yield node


def sub_json(text):
    """A JSON policy document built with !Sub: pseudo parameters resolved, every other name as <Name>."""
    return json.loads(re.sub(r"\$\{([^}!]+)\}", lambda m: PSEUDO.get(m.group(1), f"<{m.group(1)}>"), text))


def sam_statements(template, props):
    """Every statement a SAM function or state machine's Policies grant: inline statements and the
    documents of this template's managed policies it names (SAM policy templates are skipped)."""
    resources = template["Resources"]
    for policy in props.get("Policies", []):
        for entry in unwrap_if(policy):
            if isinstance(entry, dict) and "Statement" in entry:
                for statement in as_list(entry["Statement"]):
                    yield from unwrap_if(statement)
            elif isinstance(entry, dict) and set(entry) == {"Ref"}:
                managed = resources.get(entry["Ref"], {})
                if managed.get("Type") == "AWS::IAM::ManagedPolicy":
                    document = managed["Properties"]["PolicyDocument"]
                    if isinstance(document, dict) and set(document) == {"Fn::Sub"}:
                        document = sub_json(document["Fn::Sub"])
                    for statement in as_list(document.get("Statement", [])):
                        yield from unwrap_if(statement)


def asl_states(states):
    """Every state of an ASL States object, inside Map and Parallel states too."""
    for name, state in states.items():
        yield name, state
        for inner in [state.get("Iterator"), state.get("ItemProcessor")] + state.get("Branches", []):
            if isinstance(inner, dict):
                yield from asl_states(inner.get("States", {}))


def check_smtp_rotation(template):
    """SES SMTP credential rotation (issue 16): least privilege, and no credential in the open."""
    problems, checks = [], 0
    resources = template["Resources"]
    params = template["Parameters"]

    def named(kind, name):
        return next((n for n, r in resources.items() if r["Type"] == kind
                     and r["Properties"].get({"AWS::IAM::User": "UserName"}.get(kind, "Name")) == {"Fn::Sub": name}), None)

    def check(ok, problem):
        nonlocal checks
        checks += 1
        if not ok:
            problems.append(problem)
        return ok

    user = named("AWS::IAM::User", "${AWS::StackName}-ses-smtp")
    secret = named("AWS::SecretsManager::Secret", "${AWS::StackName}/ses-smtp-credentials")
    machine = named("AWS::Serverless::StateMachine", "${AWS::StackName}-smtp-credential-deployment")
    function = "RotateSmtpCredentialsFunction"
    if not check(user and secret and machine and function in resources,
                 "SMTP rotation: needs the IAM user ${AWS::StackName}-ses-smtp, the secret "
                 "${AWS::StackName}/ses-smtp-credentials, the state machine ${AWS::StackName}-smtp-credential-deployment "
                 "and RotateSmtpCredentialsFunction"):
        return checks, problems
    user_arn = {"Fn::GetAtt": [user, "Arn"]}

    # The SMTP user: ses:SendRawEmail as the identity (or through the configuration set), nothing else.
    props = resources[user]["Properties"]
    check(not {"ManagedPolicyArns", "Groups", "LoginProfile", "PermissionsBoundary"} & set(props),
          f"{user}: its inline policy must be all it has (no managed policies, groups or console login)")
    attached = [n for n, r in resources.items() if r["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy")
                and {"Ref": user} in as_list(r["Properties"].get("Users", []))]
    check(not attached, f"{user}: no other policy may be attached to the SMTP user, found {attached}")
    check(not [n for n, r in resources.items() if r["Type"] == "AWS::IAM::AccessKey"],
          "template.yaml must create no access key: the rotation creates the SMTP user's keys")
    ses_arn = re.compile(r"^arn:\$\{AWS::Partition\}:ses:\$\{AWS::Region\}:\$\{AWS::AccountId\}:(identity|configuration-set)/\$\{\w+\}$")
    for policy in props.get("Policies", []):
        for statement in as_list(policy["PolicyDocument"].get("Statement", [])):
            check(statement.get("Effect") == "Allow" and as_list(statement.get("Action")) == ["ses:SendRawEmail"]
                  and not {"NotAction", "NotResource", "NotPrincipal"} & set(statement),
                  f"{user}: may only be allowed ses:SendRawEmail, found {statement.get('Action')}")
            for resource in as_list(statement.get("Resource")):
                for arn in unwrap_if(resource):
                    check(isinstance(arn, dict) and set(arn) == {"Fn::Sub"} and ses_arn.match(arn["Fn::Sub"]),
                          f"{user}: ses:SendRawEmail only on an SES identity or configuration set ARN, found {arn}")

    # The secret: its own key, no value of its own, rotated every SmtpRotationDays by the function.
    secret_props = resources[secret]["Properties"]
    key = (secret_props.get("KmsKeyId") or {}).get("Ref")
    check(resources.get(key, {}).get("Type") == "AWS::KMS::Key"
          and resources[key]["Properties"].get("EnableKeyRotation") is True,
          f"{secret}: needs KmsKeyId, a KMS key of this template with key rotation")
    check(secret_props.get("SecretString") == "{}" and "GenerateSecretString" not in secret_props,
          f"{secret}: its first value is {{}} (the first rotation creates the key)")
    key_arn = {"Fn::GetAtt": [key, "Arn"]}
    schedules = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::SecretsManager::RotationSchedule"
                 and r["Properties"].get("SecretId") == {"Ref": secret}]
    check(len(schedules) == 1
          and schedules[0].get("RotationLambdaARN") == {"Fn::GetAtt": [function, "Arn"]}
          and schedules[0].get("RotationRules", {}).get("AutomaticallyAfterDays") == {"Ref": "SmtpRotationDays"}
          and "SmtpRotationDays" in params,
          f"{secret}: needs one RotationSchedule with {function} every SmtpRotationDays (RotationRules)")
    permissions = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::Lambda::Permission"
                   and r["Properties"].get("Principal") == "secretsmanager.amazonaws.com"]
    check(len(permissions) == 1
          and permissions[0].get("FunctionName") in ({"Ref": function}, {"Fn::GetAtt": [function, "Arn"]})
          and permissions[0].get("SourceArn") == {"Ref": secret}
          and permissions[0].get("SourceAccount") == {"Ref": "AWS::AccountId"},
          f"{function}: Secrets Manager's permission must name this account and SourceArn the secret {secret}")

    # The rotation function: its settings come from the template's resources and parameters.
    fn = resources[function]["Properties"]
    variables = fn.get("Environment", {}).get("Variables", {})
    document = variables.get("SMTP_DEPLOY_DOCUMENT", {}).get("Ref") if isinstance(variables.get("SMTP_DEPLOY_DOCUMENT"), dict) else None
    expected_env = {
        "SMTP_IAM_USER": {"Ref": user},
        "DEPLOYMENT_STATE_MACHINE_ARN": {"Ref": machine},
        "SMTP_SERVER_TAG_KEY": {"Ref": "SmtpServerTagKey"},
        "SMTP_SERVER_TAG_VALUE": {"Ref": "SmtpServerTagValue"},
    }
    for name, value in expected_env.items():
        check(variables.get(name) == value, f"{function}: {name} should be {value}")
    check(resources.get(document, {}).get("Type") == "AWS::SSM::Document",
          f"{function}: SMTP_DEPLOY_DOCUMENT should be !Ref the SSM document")
    grace = variables.get("OLD_KEY_GRACE_SECONDS", {})
    grace_days = [int(d) for d in params.get("SmtpOldKeyGraceDays", {}).get("AllowedValues", [])]
    lookup = grace.get("Fn::FindInMap", [None]) if isinstance(grace, dict) else [None]
    mapping = template.get("Mappings", {}).get(lookup[0], {})
    check(grace_days and lookup[1:] == [{"Ref": "SmtpOldKeyGraceDays"}, "Seconds"]
          and all(int(mapping.get(str(d), {}).get("Seconds", -1)) == d * 86400 for d in grace_days),
          f"{function}: OLD_KEY_GRACE_SECONDS should be SmtpOldKeyGraceDays (AllowedValues) x 86400, through a mapping")

    expected = {
        "iam:ListAccessKeys": user_arn, "iam:CreateAccessKey": user_arn, "iam:DeleteAccessKey": user_arn,
        "secretsmanager:DescribeSecret": {"Ref": secret}, "secretsmanager:GetSecretValue": {"Ref": secret},
        "secretsmanager:PutSecretValue": {"Ref": secret}, "secretsmanager:UpdateSecretVersionStage": {"Ref": secret},
        "kms:Decrypt": key_arn, "kms:GenerateDataKey": key_arn,
        "states:StartExecution": {"Ref": machine},
    }
    check(all(isinstance(p, dict) and "Statement" in p for p in fn.get("Policies", [])),
          f"{function}: its Policies should be inline statements only")
    granted = {}
    for statement in sam_statements(template, fn):
        check(statement.get("Effect") == "Allow" and not {"NotAction", "NotResource"} & set(statement),
              f"{function}: only Allow statements with Action and Resource")
        for action in as_list(statement.get("Action")):
            granted.setdefault(action, []).extend(as_list(statement.get("Resource")))
    check(set(granted) == set(expected),
          f"{function}: the rotation role's actions should be exactly {sorted(expected)}, "
          f"extra {sorted(set(granted) - set(expected))}, missing {sorted(set(expected) - set(granted))}")
    for action, wanted in expected.items():
        if action in granted:
            check(granted[action] == [wanted], f"{function}: {action} only on {wanted}, found {granted[action]}")

    # The deployment: SendCommand of the document to the tagged servers; the SMTP user's keys; no secret.
    sm = resources[machine]["Properties"]
    condition = {"StringEquals": {"ssm:resourceTag/<SmtpServerTagKey>": "<SmtpServerTagValue>"}}
    instance_grants = 0
    for statement in sam_statements(template, sm):
        actions = as_list(statement.get("Action"))
        found = as_list(statement.get("Resource"))
        check(statement.get("Effect") == "Allow" and not {"NotAction", "NotResource"} & set(statement),
              f"{machine}: only Allow statements with Action and Resource")
        check(not any(a.startswith(("secretsmanager:", "kms:")) for a in actions),
              f"{machine}: the deployment never reads the secret (the document does, on the server), found {actions}")
        check(not any(a.startswith("ssm:") and a not in ("ssm:SendCommand", "ssm:ListCommandInvocations") for a in actions),
              f"{machine}: ssm:SendCommand and ssm:ListCommandInvocations only, found {actions}")
        if any(a.startswith("iam:") for a in actions):
            check(sorted(actions) == ["iam:DeleteAccessKey", "iam:UpdateAccessKey"] and found == [user_arn],
                  f"{machine}: iam:UpdateAccessKey and iam:DeleteAccessKey only, on the SMTP user only")
        if "ssm:SendCommand" in actions:
            check(actions == ["ssm:SendCommand"], f"{machine}: ssm:SendCommand in a statement of its own")
            texts = [r.get("Fn::Sub") if isinstance(r, dict) else r for r in found]
            servers = [t for t in texts if isinstance(t, str) and re.search(r":(instance|managed-instance)/\*$", t)]
            documents = [t for t in texts if isinstance(t, str) and (
                t.endswith(f":document/<{document}>")  # a JSON document built with !Sub
                or t == f"arn:${{AWS::Partition}}:ssm:${{AWS::Region}}:${{AWS::AccountId}}:document/${{{document}}}")]
            check(len(servers) + len(documents) == len(texts) and not (servers and documents),
                  f"{machine}: ssm:SendCommand only on the credentials document, or on servers, found {texts}")
            if servers:
                instance_grants += 1
                check(statement.get("Condition") == condition,
                      f"{machine}: ssm:SendCommand on servers needs the condition {condition}")
    check(instance_grants >= 1, f"{machine}: needs ssm:SendCommand on the servers with the tag condition")

    # The document: the secret's ARN is its only parameter; it reads the secret itself, never shows it.
    content = resources[document]["Properties"].get("Content", {})
    check(resources[document]["Properties"].get("DocumentType") == "Command" and content.get("schemaVersion") == "2.2",
          f"{document}: a Command document, schemaVersion 2.2")
    parameters = content.get("parameters", {})
    check(set(parameters) == {"SecretId"} and parameters["SecretId"].get("type") == "String"
          and parameters["SecretId"].get("allowedPattern", "").startswith("^arn:"),
          f"{document}: SecretId (an ARN, allowedPattern) must be its only parameter: no credential is ever one")
    script = "\n".join(
        line for step in content.get("mainSteps", [])
        for command in as_list(step.get("inputs", {}).get("runCommand", []))
        for line in str(command).splitlines()
    )
    check("get-secret-value" in script and "{{SecretId}}" in script,
          f"{document}: reads the secret itself (get-secret-value of {{{{SecretId}}}})")
    check(not re.search(r"set\s+-[A-Za-z]*x|set\s+-o\s+xtrace|bash\s+-[A-Za-z]*x|--debug", script),
          f"{document}: never traces (set -x, bash -x) or debugs (--debug): the credentials pass through it")
    check("umask 077" in script and "postmap" in script and re.search(r"rm -f \"?\$plain\"?|rm -f /etc/postfix/sasl_passwd\b", script),
          f"{document}: writes sasl_passwd under umask 077, postmaps it, then removes the plain file")
    shown = [line for line in script.splitlines()
             if re.search(r"\b(echo|printf|print|logger|tee)\b", line)
             and re.search(r"password|secretaccesskey|secretstring", line, re.I)]
    check(not shown, f"{document}: never prints the credentials, found {shown}")

    # The state machine: no credential in a command's parameters; it outlasts the longest grace period.
    asl = json.loads((ROOT / sm["DefinitionUri"]).read_text())
    for name, state in asl_states(asl.get("States", {})):
        if state.get("Resource") == "arn:aws:states:::aws-sdk:ssm:sendCommand":
            request = state.get("Parameters", state.get("Arguments"))
            command_params = request.get("Parameters", {}) if isinstance(request, dict) else None
            check(isinstance(command_params, dict) and {k.removesuffix(".$") for k in command_params} <= {"SecretId"},
                  f"{sm['DefinitionUri']} {name}: the command's only parameter is SecretId, found {command_params}")
    poll = int(variables.get("DEPLOY_POLL_SECONDS", 30)) * int(variables.get("DEPLOY_MAX_POLLS", 60))
    longest = max(grace_days or [0]) * 86400 + poll
    check(isinstance(asl.get("TimeoutSeconds"), int) and asl["TimeoutSeconds"] > longest,
          f"{sm['DefinitionUri']}: TimeoutSeconds should exceed the longest grace period and the polling ({longest} s)")
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

    smtp_checks, smtp_problems = check_smtp_rotation(template)
    checks += smtp_checks
    problems.extend(smtp_problems)

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
