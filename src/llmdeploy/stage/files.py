"""Which files of a Hugging Face repository LMI needs, and which it does not.

LMI loads a Hugging Face layout from /opt/ml/model: the weights (safetensors, or PyTorch
``.bin`` files where a repository has no safetensors), ``config.json`` and friends, the
tokenizer, and the code files a ``trust_remote_code`` model imports. Only files at the
repository's root are taken: subfolders hold other formats (``original/`` has Meta's
consolidated ``.pth`` checkpoints) or other variants, which LMI would not load but SageMaker
would still copy to every instance. The license files travel with the weights.

Pure functions: the patterns here are the ones docs/staging.md lists.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from fnmatch import fnmatchcase

# The weights: safetensors, with their index.
SAFETENSORS = ("*.safetensors", "*.safetensors.index.json")
# Only when a repository has no safetensors at its root: PyTorch pickles, with their index.
PYTORCH_BIN = ("pytorch_model*.bin", "pytorch_model.bin.index.json")
# Configuration, tokenizer, remote code and license: small files, all of them taken.
ALWAYS = (
    "config.json",
    "generation_config.json",
    "preprocessor_config.json",
    "quantize_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "tokenizer.model",
    "special_tokens_map.json",
    "added_tokens.json",
    "vocab.json",
    "vocab.txt",
    "merges.txt",
    "*.tiktoken",
    "chat_template.json",
    "chat_template.jinja",
    "configuration_*.py",
    "modeling_*.py",
    "tokenization_*.py",
    "LICENSE*",
    "NOTICE*",
    "USE_POLICY.md",
)
ALLOW_PATTERNS = (*SAFETENSORS, *ALWAYS)


@dataclass(frozen=True)
class Selection:
    taken: tuple[str, ...]
    # (path, why) of each file left on the hub
    left: tuple[tuple[str, str], ...]


def _matches(name: str, patterns: Iterable[str]) -> bool:
    return any(fnmatchcase(name, p) for p in patterns)


def select(paths: Iterable[str]) -> Selection:
    """The files of a repository (paths relative to its root) that LMI needs."""
    paths = sorted(paths)
    root = [p for p in paths if "/" not in p]
    has_safetensors = any(fnmatchcase(p, "*.safetensors") for p in root)
    allowed = ALLOW_PATTERNS if has_safetensors else (*ALLOW_PATTERNS, *PYTORCH_BIN)
    taken: list[str] = []
    left: list[tuple[str, str]] = []
    for path in paths:
        if "/" in path:
            left.append((path, "in a subfolder (LMI loads the repository's root)"))
        elif _matches(path, allowed):
            taken.append(path)
        elif has_safetensors and _matches(path, PYTORCH_BIN):
            left.append((path, "PyTorch weights, and the repository has safetensors"))
        else:
            left.append((path, "not weights, configuration or tokenizer"))
    return Selection(tuple(taken), tuple(left))


def has_weights(taken: Iterable[str]) -> bool:
    return any(_matches(p, ("*.safetensors", "pytorch_model*.bin")) for p in taken)
