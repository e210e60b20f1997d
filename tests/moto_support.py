"""The moto server the deploy tests and `bench/deploy.py` run against, with moto's gaps
patched (each explained in tests/conftest.py, "AWS: a moto server", and below; what the
server emulates, and what it does not: docs/local-server.md)."""

from __future__ import annotations

import threading
from typing import Any

MOTO_ACCOUNT = "123456789012"
_patched = False


def _patch_moto() -> None:
    # Once per process: the patches wrap moto's methods, and tests start servers repeatedly.
    global _patched
    if _patched:
        return
    _patched = True
    from moto.kms import models as kms
    from moto.sagemaker import models as sm

    import moto_inference_components

    sm.FakeEndpointConfig.validate_instance_type = lambda self, instance_type: None
    original_variants = sm.SageMakerModelBackend.validate_production_variants

    def validate_production_variants(self, variants):
        return original_variants(self, [v for v in variants if "ModelName" in v])

    sm.SageMakerModelBackend.validate_production_variants = validate_production_variants
    original_key = kms.KmsBackend.create_key

    def create_key(self, policy, key_usage, key_spec, description, tags, *args, **kwargs):
        tags = [
            {"TagKey": t.get("TagKey", t.get("Key")), "TagValue": t.get("TagValue", t.get("Value"))}
            for t in tags or []
        ]
        return original_key(self, policy, key_usage, key_spec, description, tags, *args, **kwargs)

    kms.KmsBackend.create_key = create_key

    # SageMaker inference components: the API and the CloudFormation resource, which moto
    # lacks (tests/moto_inference_components.py).
    moto_inference_components.patch()
    _patch_endpoints(sm)
    _patch_cloudformation()
    _patch_s3()


def _patch_endpoints(sm: Any) -> None:
    # CloudFormation: moto names every endpoint `<stack>-<logical id>-<random>`, ignoring the
    # template's EndpointName; inference components (and the deploy engine) find an endpoint
    # by that name.
    sm.FakeEndpoint.cloudformation_name_type = staticmethod(lambda: "EndpointName")

    # UpdateEndpointWeightsAndCapacities: moto sets what the request leaves out to None (a
    # call with only DesiredInstanceCount erases the variant's weight); SageMaker keeps it.
    original = sm.SageMakerModelBackend.update_endpoint_weights_and_capacities

    def update_endpoint_weights_and_capacities(self, endpoint_name, desired_weights_and_capacities):
        endpoint = self.endpoints.get(endpoint_name)
        before = [dict(v) for v in endpoint.production_variants] if endpoint else []
        arn = original(self, endpoint_name, desired_weights_and_capacities)  # checks the names
        for variant, old in zip(endpoint.production_variants, before, strict=True):
            for key, value in old.items():
                if variant.get(key) is None:
                    variant[key] = value
        return arn

    sm.SageMakerModelBackend.update_endpoint_weights_and_capacities = (
        update_endpoint_weights_and_capacities
    )


def _references(node: Any) -> set[str]:
    """The logical ids a template fragment names in Ref or Fn::GetAtt."""
    if isinstance(node, list):
        return set().union(*map(_references, node))
    if not isinstance(node, dict):
        return set()
    found = set()
    for key, value in node.items():
        if key == "Ref" and isinstance(value, str):
            found.add(value)
        elif key == "Fn::GetAtt":
            found.add(value[0] if isinstance(value, list) else value.split(".")[0])
        else:
            found |= _references(value)
    return found


def _patch_cloudformation() -> None:
    from moto.cloudformation import models as cfn
    from moto.cloudformation import parsing
    from moto.cloudformation.exceptions import ValidationError
    from moto.core.utils import utcnow

    # Stack updates: moto updates a resource only when its own template text (or a parameter
    # it names) changed. CloudFormation also updates what refers to a resource that changed:
    # a replaced EndpointConfig gets a new name, so the Endpoint naming it is updated (and
    # takes the new config's InitialInstanceCount); a replaced Model's new name reaches the
    # inference component. Add those dependents, and order the updates so that a resource
    # comes after the ones it refers to (moto resolves references as it goes).
    original_diff = parsing.ResourceMap.build_resource_diff

    def build_resource_diff(self, other_template, parameters=None):
        diff = original_diff(self, other_template, parameters)
        new = other_template["Resources"]
        supported = parsing.get_model_map()
        refs = {name: _references(body) & set(new) for name, body in new.items()}
        modified = list(diff["Modify"])
        for name in modified:  # grows while it is walked: dependents of dependents
            for other in new:
                if (
                    name in refs[other]
                    and other not in modified
                    and other in self._resource_json_map
                    and new[other].get("Type") in supported
                ):
                    modified.append(other)
        ordered, pending = [], modified
        while pending:
            # Those referring to no other pending resource (a cycle, invalid anyway: as is).
            ready = [n for n in pending if not (refs[n] - {n}) & set(pending)] or pending[:1]
            ordered += ready
            pending = [n for n in pending if n not in ready]
        diff["Modify"] = ordered
        return diff

    parsing.ResourceMap.build_resource_diff = build_resource_diff

    # Updating a resource whose type moto cannot update (no update handler: AWS::KMS::Key,
    # AWS::Logs::LogGroup): moto's parse_and_update_resource returns None, and ResourceMap.update
    # stores that None over the resource: the stack forgets it. A change to such a resource (a
    # new llmdeploy:version tag on the endpoint's key) then fails every later GetAtt to it,
    # "Fn::GetAtt references undefined resource EndpointKey...", from the log group, a replaced
    # EndpointConfig or the Outputs. CloudFormation updates these in place: the resource keeps
    # its physical id and attributes. Keep it as it is (its new properties are not applied).
    # A type moto skips altogether (no model: the alarms) stays None, as before.
    original_update = parsing.parse_and_update_resource

    def parse_and_update_resource(logical_id, resource_json, resources_map, *args, **kwargs):
        updated = original_update(logical_id, resource_json, resources_map, *args, **kwargs)
        if updated is None:
            return resources_map._parsed_resources.get(logical_id)
        return updated

    parsing.parse_and_update_resource = parse_and_update_resource

    # Change sets: moto lists only resources whose template text changed, not those changed
    # through a parameter (a new CopyCount): list what executing the change set updates.
    def diff(self):
        resources = self.template_dict["Resources"]
        old = self.stack.resource_map._resource_json_map
        actions = self.stack.resource_map.build_resource_diff(self.template_dict, self.parameters)
        return [
            cfn.Change(action, name, (resources.get(name) or old[name])["Type"])
            for action, names in actions.items()
            for name in names
        ]

    cfn.ChangeSet.diff = diff

    # Executing a change set: moto leaves the stack's parameters as the first change set set
    # them (so a later change set that puts those values back is refused as "no changes"),
    # drops an UPDATE change set's Tags, and never evaluates the template's Outputs (a stack
    # made by change sets has none). CloudFormation records all three.
    original_apply = cfn.ChangeSet.apply

    def apply(self):
        original_apply(self)
        stack = self.stack
        stack.parameters = self.parameters
        if self.tags:
            stack.tags = self.tags
        stack.template_dict = self.template_dict
        stack.output_map = stack._create_output_map()
        # DescribeStacks: CloudFormation answers the last executed change set's id and, after
        # an update, LastUpdatedTime; moto answers neither. `diff` trusts a history record only
        # when both say nothing changed the stack since (docs/synthesis.md).
        stack.change_set_id = self.change_set_id
        if self.change_set_type != "CREATE":
            stack.last_updated_time = utcnow()

    cfn.ChangeSet.apply = apply

    # UpdateStack without a change set (how someone changes a stack outside llmdeploy): it too
    # moves LastUpdatedTime.
    original_stack_update = cfn.Stack.update

    def stack_update(self, *args, **kwargs):
        original_stack_update(self, *args, **kwargs)
        self.last_updated_time = utcnow()

    cfn.Stack.update = stack_update

    # CreateChangeSet: moto checks no Number parameter against its MinValue/MaxValue; the
    # engine clamps capacity into them and CloudFormation refuses a value outside.
    original_create = cfn.CloudFormationBackend.create_change_set

    def create_change_set(self, stack_name, change_set_name, template, parameters, *args, **kwargs):
        declared = (cfn.Stack.parse_template(template) or {}).get("Parameters") or {}
        for key, value in parameters.items():
            slot = declared.get(key) or {}
            if slot.get("Type") != "Number":
                continue
            try:
                number = float(value)
            except (TypeError, ValueError):
                raise ValidationError(message=f"Parameter '{key}' must be a number.") from None
            if "MinValue" in slot and number < float(slot["MinValue"]):
                raise ValidationError(
                    message=f"Parameter '{key}' must be a number not less than {slot['MinValue']}"
                )
            if "MaxValue" in slot and number > float(slot["MaxValue"]):
                raise ValidationError(
                    message=f"Parameter '{key}' must be a number not greater than "
                    f"{slot['MaxValue']}"
                )
        return original_create(
            self, stack_name, change_set_name, template, parameters, *args, **kwargs
        )

    cfn.CloudFormationBackend.create_change_set = create_change_set


def _patch_s3() -> None:
    from moto.s3.responses import S3Response

    # Conditional writes (If-None-Match: *, If-Match): moto checks the condition, then
    # writes, and the threaded server runs requests at once: two writers could both pass the
    # check. S3 decides atomically (the history store's lock relies on it): one at a time.
    writes = threading.Lock()
    for method in ("put_object", "delete_object"):
        original = getattr(S3Response, method)

        def locked(self, _original=original):
            with writes:
                return _original(self)

        setattr(S3Response, method, locked)


def start_moto_server():
    """A threaded moto server on 127.0.0.1 (a free port): (server, url)."""
    import logging
    import warnings

    from moto.server import ThreadedMotoServer

    # One access-log line per request, and a warning per resource type moto's CloudFormation
    # skips (see tests/conftest.py): noise in test and benchmark output.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    logging.getLogger("moto").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message="Tried to parse .* not supported by moto")
    _patch_moto()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    return server, f"http://{host}:{port}"


def main() -> None:
    """Run the patched server in the foreground, for trying llmdeploy locally (README)."""
    import argparse
    import os
    import time

    parser = argparse.ArgumentParser(description="A patched moto server for llmdeploy.")
    parser.add_argument("--port", type=int, default=5000)
    parser.add_argument(
        "--account",
        default=MOTO_ACCOUNT,
        help="The account STS reports (the environment's `account`).",
    )
    args = parser.parse_args()
    os.environ["MOTO_ACCOUNT_ID"] = args.account  # read by moto when it starts
    from moto.server import ThreadedMotoServer

    _patch_moto()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=args.port, verbose=False)
    server.start()
    print(
        f"moto on http://127.0.0.1:{args.port} as account {args.account}; Ctrl-C stops it",
        flush=True,
    )
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
