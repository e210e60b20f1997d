"""Every rule of DESIGN.md refuses its case with a message a user can act on.

Each case starts from a valid environment + model (tests/conftest.py), breaks one thing, and
asserts the rule that fires, the field it names, the line it points at and what it says.
"""

from __future__ import annotations

import pytest

from conftest import base_environment, base_model, mutate
from llmdeploy.errors import SpecError
from llmdeploy.plan import rules

P4D = {"spec__endpoints__0__instanceType": "ml.p4d.24xlarge"}
INF2 = {"spec__endpoints__0__instanceType": "ml.inf2.48xlarge"}
NEURON = {
    "spec__container": {"engine": "djl-neuronx", "version": "0.29.0"},
    "spec__lmi": {"rollingBatch": "auto", "tensorParallelDegree": 2},
}

# Among a case's environment changes: more Environment documents, for rules across them.
EXTRA_ENVIRONMENTS = "extra environments"

# rule id, environment changes, model changes, field path, words the message must contain,
# the text on the line it must point at, severity
CASES = [
    (
        "kv-cache-fits",
        {},
        {
            "spec__architecture": {"layers": 32, "kvHeads": 8, "headDim": 128},
            "spec__lmi__maxRollingBatchSize": 64,
            "spec__lmi__maxModelLen": 8192,
        },
        "spec.lmi.maxRollingBatchSize",
        "the weights fit but the KV cache does not: 64 sequences × 8192 tokens × 128 KiB a "
        "token (2 × 32 layers × 8 KV heads × 128 × 2 bytes) = 64.0 GiB",
        "maxRollingBatchSize: 64",
        "error",
    ),
    (
        "endpoint-rollout-valid",
        {
            "spec__endpoints__0__rollout": {
                "strategy": "linear",
                "trafficPercent": 10,
                "waitSeconds": 3600,
            }
        },
        {},
        "spec.endpoints[0].rollout.waitSeconds",
        "10 step(s) of 3600 s",
        "waitSeconds: 3600",
        "error",
    ),
    (
        "endpoint-rollout-fleet",
        {"spec__endpoints__0__rollout": {"strategy": "canary", "trafficPercent": 25}},
        {},
        "spec.endpoints[0].rollout.strategy",
        "a canary is at most 50% of the endpoint's instances, but endpoint 'pool' can run on a "
        "single instance (instances.min: 0)",
        "strategy: canary",
        "error",
    ),
    (
        "stack-names-unique",
        # A second environment in the same account and region, with prod's default prefix.
        {
            EXTRA_ENVIRONMENTS: [
                mutate(
                    base_environment("staging"),
                    spec__stackPrefix="llmdeploy-prod",
                )
            ]
        },
        {},
        "spec.stackPrefix",
        "environment 'staging' uses the stack prefix 'llmdeploy-prod' like environment 'prod' "
        "in the same account and region (account 111122223333, us-east-1)",
        "stackPrefix: llmdeploy-prod",
        "error",
    ),
    (
        "rollout-batch-within-copies",
        {},
        {"spec__copies": {"min": 1, "initial": 2, "max": 3}, "spec__rollout": {"batchCopies": 2}},
        "spec.rollout.batchCopies",
        "SageMaker replaces at most 50% of a model's copies per batch; with copies.max 3 a batch "
        "holds at most 1 copy",
        "batchCopies: 2",
        "error",
    ),
    (
        "rollout-update-headroom",
        {},
        # Two copies of 4 GPUs fill both 4-GPU instances; a third comes up during an update.
        {
            "spec__resources__accelerators": 4,
            "spec__lmi__tensorParallelDegree": 4,
            "spec__copies": {"min": 2, "initial": 2, "max": 2},
        },
        "spec.endpoints[0].instances.max",
        "a rolling update of m1 brings 1 new copy up before the old one goes: with every model at "
        "copies.min that needs 3 × ml.g6e.12xlarge, but endpoint 'pool' may grow to only 2",
        None,
        "error",
    ),
    (
        "dedicated-scaling-needs-autoscaling",
        {},
        {
            "spec__endpoint": None,
            "spec__resources": None,
            "spec__copies": None,
            "spec__autoscaling": None,
            "spec__dedicated": {
                "instanceType": "ml.g6e.12xlarge",
                "instances": {"min": 1, "initial": 1, "max": 2},
            },
        },
        "spec.dedicated.instances.max",
        "without autoscaling the endpoint stays at 1 instance(s) and never uses the range up to 2",
        None,
        "error",
    ),
    (
        "lmi-loading-timeout",
        {},
        {"spec__lmi__extraEnv": {"OPTION_MODEL_LOADING_TIMEOUT": "600"}},
        "spec.lmi.extraEnv.OPTION_MODEL_LOADING_TIMEOUT",
        "LMI would stop loading the model after 600 s while SageMaker waits 1800 s",
        "OPTION_MODEL_LOADING_TIMEOUT",
        "error",
    ),
    (
        "names-disjoint",
        {},
        {"metadata__name": "pool"},
        "metadata.name",
        "has an endpoint 'pool' too",
        None,
        "error",
    ),
    (
        "endpoint-names-unique",
        {"spec__endpoints": base_environment()["spec"]["endpoints"] * 2},
        {},
        "spec.endpoints[1].name",
        "endpoint 'pool' is defined twice",
        None,
        "error",
    ),
    (
        "instance-type-known",
        {"spec__endpoints__0__instanceType": "ml.p4d.24xlarg"},
        {},
        "spec.endpoints[0].instanceType",
        "not an instance type llmdeploy knows",
        "ml.p4d.24xlarg",
        "error",
    ),
    (
        "instances-ordered",
        {"spec__endpoints__0__instances": {"min": 2, "initial": 1, "max": 3}},
        {},
        "spec.endpoints[0].instances.min",
        "above instances.initial",
        None,
        "error",
    ),
    (
        "volume-only-without-nvme",
        {"spec__endpoints__0__volumeSizeGB": 100},
        {},
        "spec.endpoints[0].volumeSizeGB",
        "local NVMe storage; SageMaker refuses VolumeSizeInGB",
        "volumeSizeGB",
        "error",
    ),
    (
        "endpoint-name-length",
        {"spec__stackPrefix": "a" * 60},
        {},
        "spec.endpoints[0].name",
        "the limit is 63",
        None,
        "error",
    ),
    (
        "pricing-known-types",
        {"spec__pricing": {"ml.g7.xlarge": 2.5}},
        {},
        "spec.pricing.ml.g7.xlarge",
        "prices an instance type llmdeploy does not know",
        "ml.g7.xlarge",
        "warning",
    ),
    (
        "placement-exactly-one",
        {},
        {
            "spec__dedicated": {
                "instanceType": "ml.p5en.48xlarge",
                "instances": {"min": 1, "initial": 1, "max": 1},
            }
        },
        "spec.dedicated",
        "shared endpoint or a dedicated one, not both",
        "dedicated:",
        "error",
    ),
    (
        "endpoint-exists",
        {},
        {"spec__endpoint": "pol"},
        "spec.endpoint",
        "environment 'prod' has no endpoint 'pol'",
        "endpoint: pol",
        "error",
    ),
    (
        "dedicated-instance-known",
        {},
        {
            "spec__endpoint": None,
            "spec__dedicated": {
                "instanceType": "ml.p5en.48xlarg",
                "instances": {"min": 1, "initial": 1, "max": 1},
            },
        },
        "spec.dedicated.instanceType",
        "not an instance type",
        "ml.p5en.48xlarg",
        "error",
    ),
    (
        "dedicated-keeps-an-instance",
        {},
        {
            "spec__endpoint": None,
            "spec__resources": None,
            "spec__copies": None,
            "spec__dedicated": {
                "instanceType": "ml.g6e.12xlarge",
                "instances": {"min": 0, "initial": 1, "max": 1},
            },
        },
        "spec.dedicated.instances.min",
        "cannot scale to zero instances",
        None,
        "error",
    ),
    (
        "shared-needs-resources-and-copies",
        {},
        {"spec__resources": None},
        "spec.resources",
        "a model on a shared endpoint needs spec.resources",
        None,
        "error",
    ),
    (
        "copies-ordered",
        {},
        {"spec__copies": {"min": 1, "initial": 3, "max": 2}},
        "spec.copies.initial",
        "copies.initial is above copies.max (2)",
        None,
        "error",
    ),
    (
        "scale-to-zero-needs-autoscaling",
        {},
        {"spec__copies": {"min": 0, "initial": 1, "max": 2}, "spec__autoscaling": None},
        "spec.copies.min",
        "scale to zero needs autoscaling",
        None,
        "error",
    ),
    (
        "scale-to-zero-endpoint-min",
        {"spec__endpoints__0__instances": {"min": 1, "initial": 1, "max": 2}},
        {"spec__copies": {"min": 0, "initial": 1, "max": 2}},
        "spec.copies.min",
        "keeps instances.min: 1 instances running",
        None,
        "warning",
    ),
    (
        "image-in-region",
        {},
        {
            "spec__container": {
                "engine": "djl-lmi",
                "image": "763104351884.dkr.ecr.eu-west-1.amazonaws.com/"
                "djl-inference:0.33.0-lmi15.0.0-cu128",
            }
        },
        "spec.container.image",
        "the image is in ECR in eu-west-1, but SageMaker pulls images only from the endpoint's "
        "own region, us-east-1",
        "image:",
        "error",
    ),
    (
        "tp-matches-accelerators",
        {},
        {"spec__lmi__tensorParallelDegree": 4, "spec__resources__accelerators": 2},
        "spec.lmi.tensorParallelDegree",
        "must equal spec.resources.accelerators (2): each copy sees only its own 2 GPUs",
        "tensorParallelDegree: 4",
        "error",
    ),
    (
        "copy-fits-instance",
        {},
        {"spec__resources__accelerators": 8, "spec__lmi__tensorParallelDegree": 8},
        "spec.resources.accelerators",
        "ml.g6e.12xlarge has 4 GPUs; one copy cannot span",
        "accelerators: 8",
        "error",
    ),
    (
        "engine-matches-hardware",
        INF2,
        {},
        "spec.container.engine",
        "djl-lmi needs GPU instances; ml.inf2.48xlarge has AWS Inferentia2",
        "engine: djl-lmi",
        "error",
    ),
    (
        "quantization-supported",
        P4D,
        {"spec__lmi__quantization": "fp8"},
        "spec.lmi.quantization",
        "FP8 compute needs Ada or Hopper GPUs; ml.p4d.24xlarge has NVIDIA A100",
        "quantization: fp8",
        "error",
    ),
    (
        "rolling-batch-supported",
        {},
        {"spec__lmi__rollingBatch": "lmi-dist"},
        "spec.lmi.rollingBatch",
        "lmi-dist was removed in LMI 0.33.0",
        "lmi-dist",
        "error",
    ),
    (
        "image-available",
        {},
        {"spec__container__version": "0.33.1"},
        "spec.container.version",
        "djl-lmi has no version 0.33.1",
        "0.33.1",
        "error",
    ),
    (
        "weights-fit",
        {},
        {"spec__sizeBillions": 40},
        "spec.sizeBillions",
        "weights take 74.5 GiB (40B parameters × 2 bytes, quantization none) but 1 × NVIDIA L40S "
        "give 40.2 GiB usable",
        "sizeBillions: 40",
        "error",
    ),
    (
        "env-vars-limit",
        {},
        {"spec__lmi__extraEnv": {f"OPTION_X{i}": "1" for i in range(12)}},
        "spec.lmi.extraEnv",
        # 5 of llmdeploy's: rolling batch, TP, dtype, and where the weights are and how long
        # they may take to load (OPTION_MODEL_ID, OPTION_MODEL_LOADING_TIMEOUT).
        "would get 17 environment variables (5 from the LMI settings",
        "extraEnv:",
        "error",
    ),
    (
        "extra-env-no-shadowing",
        {},
        {"spec__lmi__extraEnv": {"TENSOR_PARALLEL_DEGREE": "2"}},
        "spec.lmi.extraEnv.TENSOR_PARALLEL_DEGREE",
        "set by llmdeploy from tensorParallelDegree",
        "TENSOR_PARALLEL_DEGREE",
        "error",
    ),
    (
        "no-secrets",
        {},
        {"spec__lmi__extraEnv": {"HF_TOKEN": "hf_abcdefghijklmnopqrstuvwxyz123456"}},
        "spec.lmi.extraEnv.HF_TOKEN",
        "looks like a Hugging Face token: SageMaker passes container environment variables in "
        "plaintext: anyone who may call DescribeModel or open the console sees them",
        "HF_TOKEN",
        "error",
    ),
    (
        "no-dynamic-references",
        {},
        {"spec__lmi__extraEnv": {"HF_TOKEN": "{{resolve:secretsmanager:hf-token:SecretString}}"}},
        "spec.lmi.extraEnv.HF_TOKEN",
        "is a CloudFormation dynamic reference: CloudFormation would resolve it when it deploys "
        "and put the plaintext into HF_TOKEN",
        "HF_TOKEN",
        "error",
    ),
    (
        "s3-source-scoped",
        {},
        {"spec__source__s3Uri": "s3://acme-models/flow"},
        "spec.source.s3Uri",
        "a prefix without a trailing / also covers its siblings ('flow*': 'flow-old/', "
        "'flow2/'...): the model's role could read them",
        "s3Uri: s3://acme-models/flow",
        "error",
    ),
    (
        "image-registry-allowed",
        {},
        {"spec__container__image": "999999999999.dkr.ecr.us-east-1.amazonaws.com/lmi:1"},
        "spec.container.image",
        "registry 999999999999.dkr.ecr.us-east-1.amazonaws.com is neither one of AWS's Deep "
        "Learning Containers registries nor in spec.security.imageRegistries of environment "
        "'prod'",
        "image: 999999999999",
        "error",
    ),
    (
        "kms-key-scoped",
        {"spec__security": {"kmsKeyArn": "arn:aws:kms:us-east-1:999999999999:key/*"}},
        {},
        "spec.security.kmsKeyArn",
        "holds a wildcard or policy variable: the roles would be granted Encrypt and Decrypt on "
        "every key it matches",
        "kmsKeyArn:",
        "error",
    ),
    (
        "hugging-face-needs-network",
        {},
        {"spec__source": {"huggingFaceId": "meta-llama/Llama-3.1-8B-Instruct"}},
        "spec.source.huggingFaceId",
        "cannot be downloaded from the Hugging Face Hub",
        "huggingFaceId",
        "error",
    ),
    (
        "source-required",
        {},
        {"spec__source": {}},
        "spec.source",
        "the model has no weights source",
        None,
        "error",
    ),
    (
        "model-name-length",
        {"spec__stackPrefix": "p" * 40},
        {"metadata__name": "m" * 30},
        "metadata.name",
        "is 71 characters; the limit is 63",
        None,
        "error",
    ),
    (
        "overrides-name-environments",
        {},
        {"spec__environments": {"prd": {"copies": {"max": 3}}}},
        "spec.environments.prd",
        "no environment 'prd' among the given specs",
        "prd:",
        "warning",
    ),
    (
        "batch-within-queue",
        {},
        {"spec__lmi__maxRollingBatchSize": 64, "spec__lmi__jobQueueSize": 8},
        "spec.lmi.jobQueueSize",
        "smaller than one batch (64)",
        "jobQueueSize: 8",
        "warning",
    ),
    (
        "endpoint-capacity",
        {},
        {"spec__copies": {"min": 9, "initial": 9, "max": 9}},
        "spec.endpoints[0].instances.max",
        "endpoint 'pool' needs 3 × ml.g6e.12xlarge for the models' minimum copies (m1 ×9) but may "
        "grow to only 2",
        None,
        "error",
    ),
]


def _findings(specs, env_changes, model_changes):
    env_changes = dict(env_changes)
    for extra in env_changes.pop(EXTRA_ENVIRONMENTS, []):
        specs.write(f"infra/{extra['metadata']['name']}.yaml", extra)
    specs.standard(mutate(base_environment(), **env_changes), mutate(base_model(), **model_changes))
    return specs.findings()


def test_the_base_portfolio_is_valid(specs):
    assert _findings(specs, {}, {}) == []


@pytest.mark.parametrize(
    ("rule", "env", "model", "path", "words", "line_text", "severity"),
    CASES,
    ids=[c[0] for c in CASES],
)
def test_rule_refuses_its_case(specs, rule, env, model, path, words, line_text, severity):
    found = [d for d in _findings(specs, env, model) if d.rule == rule]
    assert found, f"{rule} did not fire"
    d = found[0]
    assert d.path == path
    assert words in d.message
    assert d.severity == severity
    assert d.fix, "every finding says how to fix it"
    if line_text:
        assert d.line == specs.line_of(__import__("pathlib").Path(d.file), line_text)
    assert f"[{rule}]" in d.render()


def test_every_rule_has_a_case():
    # Rules of their own topic have their cases in tests/plan/test_<topic>_rules.py, each
    # listing its rule ids as RULE_IDS.
    import importlib
    from pathlib import Path

    others: set[str] = set()
    for module in sorted(Path(__file__).parent.glob("test_*_rules.py")):
        others |= set(importlib.import_module(module.stem).RULE_IDS)
    assert sorted(rules.RULES) == sorted({c[0] for c in CASES} | others)


def test_fp8_is_fine_on_hopper_and_ada(specs):
    model = mutate(base_model(), spec__lmi__quantization="fp8")
    specs.standard(None, model)  # g6e: L40S, Ada
    specs.check()


def test_awq_checkpoint_fits_where_fp16_would_not(specs):
    specs.standard(None, mutate(base_model(), spec__sizeBillions=40, spec__lmi__quantization="awq"))
    specs.check()


def test_neuron_engine_on_a_gpu_endpoint(specs):
    specs.standard(None, mutate(base_model(), **NEURON, spec__resources__accelerators=2))
    (d,) = [d for d in specs.errors() if d.rule == "engine-matches-hardware"]
    assert "djl-neuronx needs NEURON instances" in d.message
    assert "use engine: djl-lmi" in d.fix


def test_tp_counts_neuroncores_on_inferentia2(specs):
    model = mutate(base_model(), **NEURON, spec__resources__accelerators=2)
    specs.standard(mutate(base_environment(), **INF2), model)
    checked = specs.check()
    (m,) = checked.environments[0].models
    assert m.environment["OPTION_TENSOR_PARALLEL_DEGREE"] == "2"
    assert m.instance.devices == 24  # 12 chips × 2 NeuronCores


def test_trtllm_needs_its_own_image(specs):
    specs.standard(None, mutate(base_model(), spec__lmi__rollingBatch="trtllm"))
    (d,) = specs.errors()
    assert "TensorRT-LLM image" in d.message


def test_lmi_dist_is_fine_before_0_33(specs):
    model = mutate(
        base_model(), spec__lmi__rollingBatch="lmi-dist", spec__container__version="0.32.0"
    )
    specs.standard(None, model)
    specs.check()


def test_no_image_in_the_region(specs):
    env = mutate(base_environment(), spec__region="ap-east-2", **INF2)
    specs.standard(env, mutate(base_model(), **NEURON, spec__resources__accelerators=2))
    (d,) = specs.errors()
    assert d.rule == "image-available"
    assert "no djl-neuronx 0.29.0 image is published in ap-east-2" in d.message


def test_secret_value_is_never_echoed(specs):
    token = "hf_abcdefghijklmnopqrstuvwxyz123456"
    specs.standard(None, mutate(base_model(), spec__lmi__extraEnv={"SOME_VAR": token}))
    (d,) = specs.errors()
    assert token not in d.render() and token not in str(d.to_dict())


def test_a_secrets_manager_arn_deploys_but_warns_that_it_reaches_the_container_as_text(specs):
    arn = "arn:aws:secretsmanager:us-east-1:111122223333:secret:hf-token-AbCdEf"
    specs.standard(None, mutate(base_model(), spec__lmi__extraEnv={"HF_TOKEN_SECRET_ARN": arn}))
    (d,) = specs.check().warnings
    assert d.rule == "no-secrets" and d.severity == "warning"
    assert "SageMaker passes the ARN to the container as this text" in d.message
    assert "stage them to S3 and use source.s3Uri" in d.fix


def test_capacity_counts_memory_and_cpu_not_only_devices(specs):
    # 4 copies × 1 GPU fit the 4 GPUs of one g6e.12xlarge, but with 30 of its 48 vCPUs each
    # only one copy fits an instance: 4 instances.
    model = mutate(
        base_model(), spec__resources__cpuCores=30, spec__copies={"min": 4, "initial": 4, "max": 4}
    )
    specs.standard(None, model)
    (d,) = specs.errors()
    assert d.rule == "endpoint-capacity" and "needs 4 × ml.g6e.12xlarge" in d.message


def test_initial_copies_beyond_max_instances_is_a_warning(specs):
    model = mutate(base_model(), spec__copies={"min": 1, "initial": 9, "max": 9})
    specs.standard(None, model)
    (d,) = specs.check().warnings
    assert d.rule == "endpoint-capacity" and "initial copies" in d.message


def test_zero_initial_copies_says_why(specs):
    specs.standard(None, mutate(base_model(), spec__copies={"min": 0, "initial": 0, "max": 1}))
    (d,) = specs.errors()
    assert d.path == "spec.copies.initial" and d.value == 0
    assert "cannot be created with 0 copies" in d.fix


def test_names_that_merely_contain_token_are_not_secrets(specs):
    env = {"OPTION_TOKENIZER": "s3://acme-models/tokenizers/block/", "MAX_NEW_TOKENS": "4096"}
    specs.standard(None, mutate(base_model(), spec__lmi__extraEnv=env))
    specs.check()


def test_an_fp8_model_is_not_told_to_quantize(specs):
    model = mutate(base_model(), spec__sizeBillions=90, spec__lmi__quantization="fp8")
    specs.standard(None, model)
    (d,) = specs.errors()
    assert d.rule == "weights-fit" and "quantized checkpoint" not in d.fix


def test_a_linear_step_under_10_percent_is_refused(specs):
    env = mutate(
        base_environment(),
        spec__endpoints__0__instances={"min": 2, "initial": 2, "max": 2},
        spec__endpoints__0__rollout={"strategy": "linear", "trafficPercent": 5, "waitSeconds": 60},
    )
    specs.standard(env)
    (d,) = specs.errors()
    assert d.rule == "endpoint-rollout-valid" and "10% to 50%" in d.message


def test_peak_copies_beyond_max_instances_warn_with_plans_numbers(specs):
    from llmdeploy.plan.cost import plan_environment

    # 9 copies of one GPU at peak need 3 four-GPU instances; the pool may grow to 2.
    model = mutate(base_model(), spec__copies={"min": 1, "initial": 1, "max": 9})
    specs.standard(None, model)
    checked = specs.check()
    (d,) = checked.warnings
    assert d.rule == "endpoint-capacity" and d.severity == "warning"
    assert "needs 3 × ml.g6e.12xlarge for the models' peak (copies.max) copies (m1 ×9)" in d.message
    (endpoint,) = plan_environment(checked.environments[0]).endpoints
    assert endpoint.points["max"].needed == 3 and not endpoint.points["max"].holds


def test_a_canary_is_fine_on_a_fleet_of_two_or_more(specs):
    env = mutate(
        base_environment(),
        spec__endpoints__0__instances={"min": 2, "initial": 2, "max": 2},
        spec__endpoints__0__rollout={"strategy": "canary", "trafficPercent": 25},
    )
    specs.standard(env)
    specs.check()


def test_the_default_rollout_is_all_at_once_and_valid_on_a_pool_that_scales_to_zero(specs):
    specs.standard()  # instances.min 0, no rollout written
    (env,) = specs.check().environments
    assert env.doc.spec.spec.endpoints[0].rollout.strategy == "all-at-once"


def test_a_batch_below_5_percent_warns_and_counts_what_sagemaker_will_do(specs):
    env = mutate(
        base_environment(), spec__endpoints__0__instances={"min": 0, "initial": 1, "max": 8}
    )
    model = mutate(base_model(), spec__copies={"min": 1, "initial": 1, "max": 30})
    specs.standard(env, model)
    (d,) = [w for w in specs.check().warnings if w.rule == "rollout-batch-within-copies"]
    assert "with copies.max 30 a batch holds up to 2 copies, not 1" in d.message
    assert d.fix.startswith("set batchCopies: 2")


def test_update_headroom_packs_the_batch_with_the_minimum_copies(specs):
    # a: 2 GPUs × 2 copies at min; b: 1 GPU, batches of 3 of copies.max 6. Min copies fill one
    # 4-GPU instance; either batch needs a second one (b's, 3 GPUs, is the larger): max 1
    # cannot hold the update.
    env = mutate(
        base_environment(), spec__endpoints__0__instances={"min": 1, "initial": 1, "max": 1}
    )
    a = mutate(
        base_model("a"),
        spec__resources__accelerators=2,
        spec__lmi__tensorParallelDegree=2,
        spec__copies={"min": 2, "initial": 2, "max": 2},
    )
    b = mutate(
        base_model("b"),
        spec__copies={"min": 0, "initial": 1, "max": 6},
        spec__rollout={"batchCopies": 3},
    )
    specs.standard(env, a, b)
    errors = [d for d in specs.errors() if d.rule == "rollout-update-headroom"]
    (d,) = errors
    assert "a rolling update of b brings 3 new copies up before the old ones go" in d.message
    assert "needs 2 × ml.g6e.12xlarge" in d.message and "lower b's rollout.batchCopies" in d.fix


@pytest.mark.parametrize(
    ("value", "severity", "words"),
    [
        ("30m", "error", "a whole number of seconds"),
        ("7200", "warning", "SageMaker waits at most 3600 s"),
    ],
)
def test_loading_timeout_in_extra_env(specs, value, severity, words):
    model = mutate(base_model(), spec__lmi__extraEnv={"OPTION_MODEL_LOADING_TIMEOUT": value})
    specs.standard(None, model)
    try:
        found = list(specs.check().warnings)
    except SpecError as exc:
        found = list(exc.diagnostics)
    (d,) = [d for d in found if d.rule == "lmi-loading-timeout"]
    assert d.severity == severity and words in d.message


def test_a_longer_loading_timeout_is_accepted_and_raises_sagemakers(specs):
    model = mutate(base_model(), spec__lmi__extraEnv={"OPTION_MODEL_LOADING_TIMEOUT": "2400"})
    specs.standard(None, model)
    (m,) = specs.check().environments[0].models
    assert m.startup_timeout_seconds == 2400
    assert m.environment["OPTION_MODEL_LOADING_TIMEOUT"] == "2400"


def test_model_id_in_extra_env_is_refused_the_source_sets_it(specs):
    specs.standard(None, mutate(base_model(), spec__lmi__extraEnv={"OPTION_MODEL_ID": "/x"}))
    (d,) = specs.errors()
    assert d.rule == "extra-env-no-shadowing" and "set by llmdeploy from source" in d.message


def _second_environment(specs, name, **changes):
    specs.write(f"infra/{name}.yaml", mutate(base_environment(name), **changes))


def test_a_default_prefix_equal_to_anothers_explicit_one_collides(specs):
    # "blue" (first in the folder) takes the prefix prod would take by default.
    _second_environment(specs, "blue", spec__stackPrefix="llmdeploy-prod")
    specs.standard()
    errors = [d for d in specs.errors() if d.rule == "stack-names-unique"]
    (d,) = errors
    assert d.path == "metadata.name" and d.file.endswith("infra/prod.yaml")
    assert "environment 'prod' uses the stack prefix 'llmdeploy-prod' like environment 'blue'" in (
        d.message
    )


def test_colliding_environments_are_refused_even_when_env_selects_one(specs):
    _second_environment(specs, "staging", spec__stackPrefix="llmdeploy-prod")
    specs.standard()
    for selected in (("prod",), ("staging",)):
        with pytest.raises(SpecError) as info:
            specs.check(*selected)
        assert any(d.rule == "stack-names-unique" for d in info.value.diagnostics)


def test_the_same_prefix_in_another_account_or_region_is_fine(specs):
    _second_environment(
        specs, "staging", spec__stackPrefix="llmdeploy-prod", spec__region="eu-west-1"
    )
    _second_environment(
        specs, "qa", spec__stackPrefix="llmdeploy-prod", spec__account="999988887777"
    )
    specs.standard()
    specs.check()


def test_different_prefixes_that_still_form_the_same_names_collide(specs):
    # prefix "a" + model "model-x"'s stack is "a-model-model-x"; prefix "a-model" + model "x"'s
    # SageMaker name is "a-model-x", which "a"'s stack for model x is too.
    _second_environment(specs, "one", spec__stackPrefix="a")
    _second_environment(specs, "two", spec__stackPrefix="a-model")
    specs.write("infra/prod.yaml", base_environment())
    specs.write("models/x.yaml", base_model("x"))
    errors = [d for d in specs.errors() if d.rule == "stack-names-unique"]
    (d,) = errors
    assert "environment 'two' (prefix 'a-model') and environment 'one' (prefix 'a') both name" in (
        d.message
    )
