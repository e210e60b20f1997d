"""A model synthesized from a spec: its role grants exactly its weights folder and its image
repository, and cdk-nag (whose acknowledgements name only that folder) passes."""

from __future__ import annotations

import json

from conftest import base_environment, base_model, mutate
from llmdeploy.synth.assembly import synthesize

REGISTRY = "999999999999.dkr.ecr.us-east-1.amazonaws.com"


def test_the_synthesized_model_role_grants_exactly_its_folder_and_repository(specs, tmp_path):
    env = mutate(base_environment(), spec__security={"imageRegistries": [REGISTRY]})
    model = mutate(
        base_model(),
        spec__source__s3Uri="s3://acme-models/flow/3/",
        spec__container__image=f"{REGISTRY}/team/lmi:1.0",
    )
    specs.standard(env, model)
    (resolved,) = specs.check().environments
    summaries = synthesize(resolved, tmp_path / "out", ["m1"], nag=True)
    (template,) = [json.loads(s.template.read_text()) for s in summaries if "model-m1" in s.name]
    policies = [
        r["Properties"]["PolicyDocument"]["Statement"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::IAM::Policy"
    ]
    (statements,) = policies
    text = json.dumps(statements)
    by_action = {json.dumps(s["Action"]): s for s in statements}
    get = by_action['"s3:GetObject"']
    assert json.dumps(get["Resource"]).endswith(':s3:::acme-models/flow/3/*"]]}')
    listing = by_action['"s3:ListBucket"']
    assert json.dumps(listing["Resource"]).endswith(':s3:::acme-models"]]}')
    assert listing["Condition"] == {"StringLike": {"s3:prefix": ["flow/3/*"]}}
    pull = next(s for s in statements if "ecr:BatchGetImage" in s["Action"])
    assert json.dumps(pull["Resource"]).endswith(
        ':ecr:us-east-1:999999999999:repository/team/lmi"]]}'
    )
    # nothing wider anywhere in the role
    assert "acme-models/*" not in text and "repository/*" not in text
