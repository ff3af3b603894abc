"""The safety gate over a planned release: secrets, sizes, weights, and what it reports."""

from __future__ import annotations

import bz2
import gzip
import json
import logging
import lzma
import os
import pickle
import random
import re
import string
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from project import copy_example, run_cli
from safetensors.numpy import save_file

from release.errors import ConfigError, UnsafeArtifactError
from release.gate import (
    HUB_MAX_FILE_SIZE,
    HUB_MAX_FOLDER_ENTRIES,
    Finding,
    GateConfig,
    check_gate,
    check_hub_layout,
    collect_gate_files,
    run_gate,
)

CODE = re.compile(r"MR\d{3} [a-z]+(?:-[a-z]+)*")
RNG = random.Random(20240605)


def token(alphabet: str, length: int) -> str:
    return "".join(RNG.choice(alphabet) for _ in range(length))


ALNUM = string.ascii_letters + string.digits
HF_TOKEN = "hf_" + token(ALNUM, 34)
AWS_KEY_ID = "AKIA" + token(string.ascii_uppercase + string.digits, 16)
AWS_SECRET = token(ALNUM + "/+", 40)
KEY_BODY = [token(ALNUM + "/+", 64) for _ in range(4)]
SECRETS = [HF_TOKEN, AWS_KEY_ID, AWS_SECRET, *KEY_BODY]


def release_tree(root: Path, files: dict[str, str | bytes]) -> list[tuple[str, Path]]:
    pairs = []
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            path.write_text(content)
        else:
            path.write_bytes(content)
        pairs.append((name, path))
    return pairs


def leaky_release(root: Path) -> list[tuple[str, Path]]:
    return release_tree(
        root,
        {
            "README.md": "# A model\n\nLoad it with `from_pretrained`.\n",
            "config.json": json.dumps({"model_type": "llama", "hidden_size": 64}, indent=2),
            "train.py": f'import os\n\nTOKEN = os.environ["HF_TOKEN"]\nfallback = "{HF_TOKEN}"\n',
            "deploy/.env": f"AWS_ACCESS_KEY_ID={AWS_KEY_ID}\nAWS_SECRET_ACCESS_KEY={AWS_SECRET}\n",
            "deploy/id_rsa": "-----BEGIN RSA PRIVATE KEY-----\n"
            + "\n".join(KEY_BODY)
            + "\n-----END RSA PRIVATE KEY-----\n",
        },
    )


def where(findings: list[Finding]) -> list[tuple[str, str, str | None]]:
    return [(f.code, f.path, f.where) for f in findings]


# --- secrets -----------------------------------------------------------------------------------


def test_tokens_cloud_keys_and_private_keys_block_the_release_by_file_and_line(tmp_path: Path) -> None:
    findings = run_gate(leaky_release(tmp_path), GateConfig())
    assert where(findings) == [
        ("MR401 secret", "deploy/.env", "line 1"),
        ("MR401 secret", "deploy/.env", "line 2"),
        ("MR401 secret", "deploy/id_rsa", "line 1"),
        ("MR401 secret", "train.py", "line 4"),
    ]
    assert all(f.severity == "error" for f in findings)
    messages = {(f.path, f.where): f.message for f in findings}
    assert "Hugging Face Token" in messages[("train.py", "line 4")]
    assert "AWS Access Key" in messages[("deploy/.env", "line 1")]
    assert "Private Key" in messages[("deploy/id_rsa", "line 1")]


def test_no_secret_appears_in_the_error_its_findings_or_the_logs(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    with pytest.raises(UnsafeArtifactError) as raised:
        check_gate(run_gate(leaky_release(tmp_path), GateConfig()))
    error = raised.value
    captured = capsys.readouterr()
    shown = [str(error), repr(error), repr(error.findings), *map(str, error.findings), caplog.text, captured.out]
    shown.append(captured.err)
    for secret in SECRETS:
        for text in shown:
            assert secret not in text
            assert secret[:12] not in text  # not even a prefix
    assert "train.py (line 4)" in str(error)
    assert "MR401 secret" in str(error)
    assert "revoke" in str(error)


def test_credentials_in_urls_and_env_style_assignments_are_found(tmp_path: Path) -> None:
    files = release_tree(
        tmp_path,
        {
            "notes.md": (
                "git remote add hub https://:abcdefgh12345678@huggingface.co/alice/model\n"
                "psql postgres://trainer:Wq8mZ2rLx9@db.internal:5432/runs\n"
            ),
            "run.sh": "export WANDB_API_KEY=4f1c9e8b2a7d6c5b\nDB_PASSWORD='n0t-so-s3cret'\n",
        },
    )
    assert where(run_gate(files, GateConfig())) == [
        ("MR401 secret", "notes.md", "line 1"),
        ("MR401 secret", "notes.md", "line 2"),
        ("MR401 secret", "run.sh", "line 1"),
        ("MR401 secret", "run.sh", "line 2"),
    ]


def _kinds() -> dict[str, str]:
    """A line each detector finds, by the kind of secret it reports (values made up here)."""
    up, hexa, low = string.ascii_uppercase + string.digits, "0123456789abcdef", string.ascii_lowercase + string.digits
    return {
        "AWS Access Key": f"key_id = {'AKIA' + token(up, 16)}",
        "Artifactory Credentials": f"artifactory_token: AKC{token(ALNUM, 20)}",
        "Azure Storage Account access key": f"DefaultEndpointsProtocol=https;AccountKey={token(ALNUM, 86)}==",
        "Basic Auth Credentials": f"url = 'ftp://admin:{token(ALNUM, 12)}@files.example.org'",
        "Cloudant Credentials": f"CLOUDANT_PASSWORD = '{token(hexa, 64)}'",
        "Discord Bot Token": f"bot: M{token(ALNUM, 23)}.{token(ALNUM, 6)}.{token(ALNUM, 27)}",
        "GitHub Token": f"gh = ghp_{token(ALNUM, 36)}",
        "GitLab Token": f"gl = glpat-{token(ALNUM, 20)}",
        "IBM Cloud IAM Key": f"Ibm_Cloud_Iam_Key = '{token(ALNUM, 44)}'",
        "IBM COS HMAC Credentials": f"cos_hmac_secret_access_key = '{token(hexa, 48)}'",
        "JSON Web Token": "jwt = eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w",
        "Mailchimp Access Key": f"mc = {token(hexa, 32)}-us12",
        "NPM tokens": f"//registry.npmjs.org/:_authToken=npm_{token(ALNUM, 36)}",
        "OpenAI Token": f"openai = sk-{token(ALNUM, 20)}T3BlbkFJ{token(ALNUM, 20)}",
        "Private Key": "-----BEGIN OPENSSH PRIVATE KEY-----",
        "PyPI Token": f"pypi = pypi-AgEIcHlwaS5vcmc{token(ALNUM, 72)}",
        "SendGrid API Key": f"sg = SG.{token(ALNUM, 22)}.{token(ALNUM, 43)}",
        "Slack Token": f"slack = xoxb-{token(string.digits, 12)}-{token(string.digits, 12)}-{token(low, 24)}",
        "SoftLayer Credentials": f"softlayer_api_key = '{token(low, 64)}'",
        "Square OAuth Secret": f"sq = sq0csp-{token(ALNUM, 43)}",
        "Stripe Access Key": f"stripe = sk_live_{token(ALNUM, 24)}",
        "Telegram Bot Token": f"tg = {token(string.digits, 9)}:{token(ALNUM, 35)}",
        "Twilio API Key": f"twilio = SK{token(hexa, 32)}",
        "Secret Keyword": f'db_password = "{token(ALNUM, 14)}"',
        "Hugging Face Token": f"token: hf_{token(ALNUM, 34)}",
        "Credentials in URL": f"remote = https://:{token(ALNUM, 20)}@huggingface.co/x",
        "Credential assignment": f'WANDB_API_KEY = "{token(ALNUM, 32)}"',
    }


KINDS = _kinds()


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_detector_is_reached_through_the_line_prefilter(tmp_path: Path, kind: str) -> None:
    """Lines are picked by fast triggers before the detectors run: each kind must still be found."""
    filler = "".join(f"line {i}: an ordinary sentence about the model and its tokenizer\n" for i in range(2000))
    files = release_tree(tmp_path, {"app.py": filler + KINDS[kind] + "\n" + filler})
    findings = run_gate(files, GateConfig())
    assert [(f.where, kind in f.message) for f in findings] == [("line 2001", True)]


def test_placeholders_references_and_marked_lines_are_not_secrets(tmp_path: Path) -> None:
    files = release_tree(
        tmp_path,
        {
            "README.md": (
                "export HF_TOKEN=${HF_TOKEN}\n"
                "HF_TOKEN=$(cat ~/.cache/huggingface/token)\n"
                "url: https://user:${PASSWORD}@example.com\n"
                "password: <your password>\n"
                "MAX_NEW_TOKEN=512\n"
                f"fixture = '{HF_TOKEN}'  # pragma: allowlist secret\n"
            ),
            "tokenizer_config.json": json.dumps({"pad_token": "<pad>", "tokenizer_class": "LlamaTokenizer"}),
            "special.py": 'MASK_TOKEN = "[MASK]"\nBOS_TOKEN = "<|begin_of_text|>"\nEOS_TOKEN = tokenizer.eos_token\n',
        },
    )
    assert run_gate(files, GateConfig()) == []


def test_binary_and_excluded_files_are_not_secret_scanned(tmp_path: Path) -> None:
    files = release_tree(
        tmp_path,
        {
            # binary: NULs, and bytes that are not UTF-8 (a text file with a stray NUL is scanned: below)
            "blob.dat": b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR" + bytes(range(256)) + HF_TOKEN.encode(),
            "tests/fixtures/fake.env": f"HF_TOKEN={HF_TOKEN}\n",
            "other.env": f"HF_TOKEN={HF_TOKEN}\n",
        },
    )
    findings = run_gate(files, GateConfig(secret_exclude=("tests/*",)))
    assert where(findings) == [("MR401 secret", "other.env", "line 1")]


@pytest.mark.parametrize(
    "encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-16-le+bom", "utf-16-be+bom", "utf-8+nul", "utf-8+nuls"]
)
def test_secrets_in_utf16_text_and_in_text_holding_nul_bytes_are_found(tmp_path: Path, encoding: str) -> None:
    text = f"# notes\r\nexport HF_TOKEN={HF_TOKEN}\r\nthe end\r\n"
    if encoding.endswith("+bom"):
        codec = encoding.removesuffix("+bom")
        content = ("\ufeff" + text).encode(codec)
    elif encoding == "utf-8+nul":
        content = b"header\0\n" + text.encode()  # one NUL in a text file
    elif encoding == "utf-8+nuls":
        content = f"# notes\nkey\0{HF_TOKEN}\0\0\x01padding\n".encode()  # the token between NULs
    else:
        content = text.encode(encoding)  # "utf-16": Python writes a BOM in the machine's order
    files = release_tree(tmp_path, {"notes.sh": content})
    line = "line 3" if encoding == "utf-8+nul" else "line 2"
    assert where(run_gate(files, GateConfig())) == [("MR401 secret", "notes.sh", line)]


def test_16_bit_numbers_are_not_read_as_utf16_text(tmp_path: Path) -> None:
    samples = np.arange(4000, dtype="<i2") % 200  # zero bytes in every other place, like UTF-16 ASCII
    files = release_tree(tmp_path, {"audio.raw": samples.tobytes() + f"HF_TOKEN={HF_TOKEN}".encode()})
    assert run_gate(files, GateConfig()) == []


def test_secrets_in_safetensors_metadata_are_found_and_never_shown(tmp_path: Path) -> None:
    path = tmp_path / "model.safetensors"
    metadata = {"format": "pt", "notes": f"uploaded with {HF_TOKEN}", "api_key": "sk-" + token(ALNUM, 40)}
    save_file({"w": np.zeros(2, dtype=np.float32)}, str(path), metadata=metadata)
    findings = run_gate([("model.safetensors", path)], GateConfig())
    assert where(findings) == [
        ("MR401 secret", "model.safetensors", "__metadata__ 'api_key'"),
        ("MR401 secret", "model.safetensors", "__metadata__ 'notes'"),
    ]
    assert not any(HF_TOKEN in str(f) or metadata["api_key"] in str(f) for f in findings)
    assert run_gate([("model.safetensors", path)], GateConfig(secret_exclude=("*.safetensors",))) == []


def test_line_numbers_hold_across_chunks_and_very_long_lines(tmp_path: Path) -> None:
    filler = "".join(f'    "tok{i}": {i},\n' for i in range(300_000))  # ~6 MB: spans chunks
    long_line = "x" * (9 << 20) + f" {HF_TOKEN}\n"  # one line longer than two chunks
    files = release_tree(
        tmp_path,
        {"vocab.json": "{\n" + filler + f'    "leak": "{HF_TOKEN}"\n}}\n', "blob.txt": "a\n" + long_line},
    )
    assert where(run_gate(files, GateConfig())) == [
        ("MR401 secret", "blob.txt", "line 2"),
        ("MR401 secret", "vocab.json", "line 300002"),
    ]


def test_text_with_invalid_utf8_is_still_scanned(tmp_path: Path) -> None:
    files = release_tree(tmp_path, {"log.txt": b"caf\xe9 latin-1\n" + f"token {HF_TOKEN}\n".encode()})
    assert where(run_gate(files, GateConfig())) == [("MR401 secret", "log.txt", "line 2")]


# --- size --------------------------------------------------------------------------------------


def sparse(path: Path, size: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        handle.truncate(size)
    return path


def test_a_file_above_the_hub_limit_is_refused_and_a_large_one_warned(tmp_path: Path) -> None:
    files = [
        ("data/huge.parquet", sparse(tmp_path / "huge.parquet", HUB_MAX_FILE_SIZE + 1)),
        ("data/big.parquet", sparse(tmp_path / "big.parquet", 6 * 10**9)),
        ("data/small.parquet", sparse(tmp_path / "small.parquet", 10**6)),
    ]
    findings = run_gate(files, GateConfig())
    assert [(f.code, f.severity, f.path) for f in findings] == [
        ("MR502 file-large", "warning", "data/big.parquet"),
        ("MR501 file-too-large", "error", "data/huge.parquet"),
    ]
    assert findings[0].where == "5.6 GiB"
    assert "shard" in findings[0].fix.lower() and "shard" in findings[1].fix.lower()
    with pytest.raises(UnsafeArtifactError, match=r"MR501 file-too-large  data/huge\.parquet"):
        check_gate(findings)


def test_size_thresholds_are_configurable(tmp_path: Path) -> None:
    files = release_tree(tmp_path, {"a.txt": "x" * 50, "b.txt": "x" * 500, "c.txt": "x" * 5000})
    findings = run_gate(files, GateConfig(warn_size=100, max_file_size=1000))
    assert [(f.code, f.path) for f in findings] == [("MR502 file-large", "b.txt"), ("MR501 file-too-large", "c.txt")]


# --- weights through the gate ------------------------------------------------------------------


class Malicious:
    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, ("echo pwned",))


def test_pickles_are_blocked_unless_that_exact_file_is_allowed_with_a_reason(tmp_path: Path) -> None:
    evil = pickle.dumps(Malicious())
    files = release_tree(tmp_path, {"a/model.pkl": evil, "b/model.pkl": evil})
    blocked = run_gate(files, GateConfig())
    assert [(f.code, f.path) for f in blocked] == [
        ("MR301 pickle-dangerous-global", "a/model.pkl"),
        ("MR301 pickle-dangerous-global", "b/model.pkl"),
    ]
    allowed = run_gate(files, GateConfig(allow_pickles={"a/model.pkl": "reference output of the 2019 paper"}))
    assert [(f.code, f.severity, f.path) for f in allowed] == [
        ("MR303 pickle-allowed", "warning", "a/model.pkl"),
        ("MR301 pickle-dangerous-global", "error", "b/model.pkl"),
    ]
    assert "2019 paper" in allowed[0].message


# Names that said nothing about pickles: each once held a pickle the gate let through.
DISGUISES = ["weights", "model.pth.tar", "model.dill", "x.pt.txt"]


@pytest.mark.parametrize("name", DISGUISES)
@pytest.mark.parametrize("protocol", [0, 1, 2, 4, 5])
def test_a_pickle_is_found_by_its_bytes_whatever_its_name(tmp_path: Path, name: str, protocol: int) -> None:
    files = release_tree(tmp_path, {f"ckpt/{name}": pickle.dumps(Malicious(), protocol=protocol)})
    findings = run_gate(files, GateConfig())
    assert [(f.code, f.path) for f in findings] == [("MR301 pickle-dangerous-global", f"ckpt/{name}")]
    assert "system" in (findings[0].where or "")


def test_an_old_pickle_is_found_whatever_opcode_it_starts_with(tmp_path: Path) -> None:
    payload = pickle.dumps(Malicious(), protocol=0)
    files = release_tree(
        tmp_path, {"a.txt": b"N0" + payload, "b.txt": b"I1\n0" + payload, "c.txt": b"K\x010" + payload}
    )
    assert [(f.code, f.path) for f in run_gate(files, GateConfig())] == [
        ("MR301 pickle-dangerous-global", "a.txt"),
        ("MR301 pickle-dangerous-global", "b.txt"),
        ("MR301 pickle-dangerous-global", "c.txt"),
    ]


def torch_zip(path: Path, data_pkl: bytes, folder: str = "archive") -> Path:
    """The layout torch.save writes (without torch): <folder>/data.pkl beside the storages."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(f"{folder}/data.pkl", data_pkl)
        archive.writestr(f"{folder}/byteorder", "little")
        archive.writestr(f"{folder}/data/0", np.arange(6, dtype=np.float32).tobytes())
        archive.writestr(f"{folder}/version", "3\n")
    return path


@pytest.mark.parametrize("name", ["checkpoint", "model.pth.tar", "weights.zip", "epoch_3.data"])
def test_a_torch_zip_is_found_by_its_data_pkl_whatever_its_name(tmp_path: Path, name: str) -> None:
    path = torch_zip(tmp_path / name, pickle.dumps(Malicious(), protocol=2), folder="my_model")
    findings = run_gate([(name, path)], GateConfig())
    assert [(f.code, f.path, f.where) for f in findings] == [
        ("MR301 pickle-dangerous-global", name, "my_model/data.pkl: posix.system")
    ]


def test_numpy_object_arrays_are_found_by_their_bytes(tmp_path: Path) -> None:
    np.save(tmp_path / "features.npy", np.array([Malicious(), 1], dtype=object), allow_pickle=True)
    np.savez(tmp_path / "arrays.npz", extra=np.array([Malicious()], dtype=object))
    files = [
        ("features.bin.txt", tmp_path / "features.npy"),
        ("arrays.data", tmp_path / "arrays.npz"),
        *release_tree(tmp_path, {"plain": np.arange(4).tobytes()}),
    ]
    np.save(tmp_path / "numbers.npy", np.arange(12, dtype=np.float32))
    files.append(("numbers", tmp_path / "numbers.npy"))
    assert where(run_gate(files, GateConfig())) == [
        ("MR301 pickle-dangerous-global", "arrays.data", "extra.npy: posix.system"),
        ("MR301 pickle-dangerous-global", "features.bin.txt", "posix.system"),
    ]


COMPRESSORS = {
    "data.pkl.gz": gzip.compress,  # pandas.to_pickle infers gzip from the name
    "model.joblib": lambda data: zlib.compress(data, 3),  # joblib.dump(compress=3): a bare zlib stream
    "frame.pkl.bz2": bz2.compress,
    "frame.pkl.xz": lzma.compress,
    "cache": gzip.compress,
}


@pytest.mark.parametrize("name", sorted(COMPRESSORS))
def test_a_compressed_pickle_is_scanned_inside_its_compression(tmp_path: Path, name: str) -> None:
    evil = COMPRESSORS[name](pickle.dumps({"frame": [1, 2], "x": Malicious()}, protocol=4))
    fine = COMPRESSORS[name](pickle.dumps({"frame": list(range(50_000))}, protocol=4))
    files = release_tree(tmp_path, {f"evil/{name}": evil, f"fine/{name}": fine})
    assert where(run_gate(files, GateConfig())) == [("MR301 pickle-dangerous-global", f"evil/{name}", "posix.system")]


def test_a_compressed_pickle_cut_short_is_refused_as_unscannable(tmp_path: Path) -> None:
    whole = gzip.compress(pickle.dumps([Malicious(), list(range(100_000))], protocol=4))
    files = release_tree(tmp_path, {"data.gz": whole[: len(whole) // 2]})
    assert [f.code for f in run_gate(files, GateConfig())] == ["MR304 pickle-unscannable"]


def test_benign_files_are_not_mistaken_for_pickles(tmp_path: Path) -> None:
    """Text starting like an old pickle, zips of data, and plain pickles of tensors all pass."""
    data_zip = tmp_path / "images.zip"
    with zipfile.ZipFile(data_zip, "w") as archive:
        archive.writestr("images/0.txt", "a cat")
        archive.writestr("labels.json", "{}")
    files = [
        ("images.zip", data_zip),
        ("weights", torch_zip(tmp_path / "weights", pickle.dumps({"w": np.ones(2, dtype=np.float32)}, protocol=2))),
        *release_tree(
            tmp_path,
            {
                "notes.txt": "cats\ndogs\n(and birds)\n",
                "list.txt": "]not a pickle\n",
                "paren.md": "(see below)\n" * 20_000,  # longer than the 64 KiB probe
                "tokens.txt": "c\nb\n" + "x\n" * 100,
                "state": pickle.dumps({"step": 3, "lr": 0.1}, protocol=4),
                "state0": pickle.dumps({"step": 3, "lr": 0.1}, protocol=0),
                "x.py": "x = 1\n",  # starts like a zlib stream
                "Notes.txt": "Some words. In 1999, Vienna (Austria)...\nLine two\n",  # S, I, V, ( are opcodes
                "labels.txt": "cat\ndog\nbird\n",
                "ints.txt": "I1\nI2\n",
                "x.md": "x^2 grows\n",
                "train.csv.gz": gzip.compress(b"a,b\n1,2\n" * 1000),
            },
        ),
    ]
    assert run_gate(files, GateConfig()) == []


def test_an_allowance_for_a_file_not_in_the_release_is_reported(tmp_path: Path) -> None:
    files = release_tree(tmp_path, {"model.pkl": pickle.dumps({"a": 1})})
    findings = run_gate(files, GateConfig(allow_pickles={"model.pkl": "old", "gone.pkl": "older"}))
    assert [(f.code, f.path, f.severity) for f in findings] == [
        ("MR305 pickle-allow-unused", "gone.pkl", "warning"),
        ("MR305 pickle-allow-unused", "model.pkl", "warning"),
    ]


@pytest.mark.parametrize("reason", ["", "   "])
def test_an_allowance_needs_a_reason(reason: str) -> None:
    with pytest.raises(ConfigError, match="needs a stated reason"):
        GateConfig(allow_pickles={"model.pkl": reason})


def test_a_sharded_checkpoint_is_checked_against_the_staged_shards(tmp_path: Path) -> None:
    weights = tmp_path / "weights"
    weights.mkdir()
    save_file({"a": np.zeros(4, dtype=np.float32)}, str(weights / "model-00001-of-00002.safetensors"))
    save_file({"b": np.zeros(2, dtype=np.float32)}, str(weights / "model-00002-of-00002.safetensors"))
    index = {
        "metadata": {"total_size": 24},
        "weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"},
    }
    (weights / "model.safetensors.index.json").write_text(json.dumps(index))
    files = collect_gate_files([weights], tmp_path)
    assert [name for name, _ in files] == [
        "weights/model-00001-of-00002.safetensors",
        "weights/model-00002-of-00002.safetensors",
        "weights/model.safetensors.index.json",
    ]
    assert run_gate(files, GateConfig()) == []
    # the second shard left out of the release: the index now names a missing shard
    findings = run_gate(files[::2], GateConfig())
    assert where(findings) == [
        ("MR202 shard-missing", "weights/model.safetensors.index.json", "model-00002-of-00002.safetensors")
    ]


def test_a_broken_safetensors_file_is_refused_through_the_gate(tmp_path: Path) -> None:
    path = tmp_path / "model.safetensors"
    save_file({"a": np.zeros(4, dtype=np.float32)}, str(path))
    path.write_bytes(path.read_bytes()[:-1])
    with pytest.raises(UnsafeArtifactError, match=r"MR105 safetensors-offsets  model\.safetensors"):
        check_gate(run_gate([("model.safetensors", path)], GateConfig()))


def test_an_unreadable_file_is_an_error_not_a_crash(tmp_path: Path) -> None:
    findings = run_gate([("gone.txt", tmp_path / "gone.txt")], GateConfig())
    assert [(f.code, f.severity) for f in findings] == [("MR001 unreadable-file", "error")]


# --- the findings themselves -------------------------------------------------------------------


def test_every_finding_has_a_code_path_place_and_fix(tmp_path: Path) -> None:
    evil = pickle.dumps(Malicious())
    files = leaky_release(tmp_path) + release_tree(
        tmp_path,
        {"model.pkl": evil, "counts.pkl": pickle.dumps(__import__("collections").Counter(a=1)), "big.txt": "x" * 200},
    )
    findings = run_gate(files, GateConfig(warn_size=100))
    assert {f.code.split()[0] for f in findings} == {"MR301", "MR302", "MR401", "MR502"}
    for finding in findings:
        assert CODE.fullmatch(finding.code), finding.code
        assert finding.severity in ("error", "warning")
        assert finding.path and finding.where and finding.message and finding.fix


def test_warnings_alone_do_not_block(tmp_path: Path) -> None:
    files = release_tree(tmp_path, {"big.txt": "x" * 200})
    findings = run_gate(files, GateConfig(warn_size=100))
    assert [f.severity for f in findings] == ["warning"]
    check_gate(findings)  # does not raise


def test_the_error_lists_every_error_with_its_fix(tmp_path: Path) -> None:
    with pytest.raises(UnsafeArtifactError) as raised:
        check_gate(run_gate(leaky_release(tmp_path), GateConfig()))
    text = str(raised.value)
    assert text.startswith("the safety gate blocks this release: 4 error(s)")
    assert text.count("fix: ") == 4
    assert len(raised.value.findings) == 4


def test_a_file_with_many_problems_is_summarised(tmp_path: Path) -> None:
    lines = "".join(f"DB{i}_PASSWORD=Zq{i:04d}wxyz\n" for i in range(120))
    findings = run_gate(release_tree(tmp_path, {"creds.env": lines}), GateConfig())
    assert len(findings) == 51
    assert findings[-1].where is None and findings[-1].message == "and 70 more like this in the file"


# --- cost --------------------------------------------------------------------------------------


def test_a_10gb_safetensors_file_and_1000_text_files_cost_their_headers_and_text(tmp_path: Path) -> None:
    elements = 10 * 10**9 // 4
    header = json.dumps({"w": {"dtype": "F32", "shape": [elements], "data_offsets": [0, elements * 4]}}).encode()
    header += b" " * (-len(header) % 8)
    weights = tmp_path / "model.safetensors"
    with weights.open("wb") as handle:
        handle.write(len(header).to_bytes(8, "little") + header)
        handle.truncate(8 + len(header) + elements * 4)
    texts = {f"docs/{i:04d}.md": f"# Page {i}\n\n" + "Some words about the model. " * 40 + "\n" for i in range(1000)}
    files = [("model.safetensors", weights), *release_tree(tmp_path, dict(texts))]
    read_before = _bytes_read()
    findings = run_gate(files, GateConfig(warn_size=20 * 10**9))
    read = _bytes_read() - read_before
    assert findings == []
    # The cost is counted in bytes read, not seconds: the header and the texts (~1.2 MB), not the 10 GB.
    assert read < 32 * 2**20, f"the gate read {read} bytes"


def _bytes_read() -> int:
    """Bytes this process has read through read() and its kin so far (Linux's /proc/self/io ``rchar``)."""
    fields = dict(line.split(": ") for line in Path("/proc/self/io").read_text().splitlines())
    return int(fields["rchar"])


# --- the secret scan's literal prefilter ---------------------------------------------------------


_ALLOWED: dict[tuple[Any, ...], list[str]] = {}  # the characters of a parsed [class]


def _sample(sequence: Any, rng: random.Random, ignore_case: bool) -> str:
    """A random string shaped by a regex parse tree: most of them match it (the test keeps those that do)."""
    from re import _constants as sre  # type: ignore[attr-defined]

    pool = string.ascii_letters + string.digits + string.punctuation + " "
    out = []
    for op, value in sequence:
        if op is sre.LITERAL:
            char = chr(value)
            out.append(char.upper() if ignore_case and rng.random() < 0.5 else char)
        elif op is sre.NOT_LITERAL:
            out.append(rng.choice([c for c in pool if c != chr(value)]))
        elif op is sre.ANY:
            out.append(rng.choice(pool))
        elif op is sre.IN:
            key = tuple(value)
            allowed = _ALLOWED.get(key)
            if allowed is None:
                allowed = _ALLOWED[key] = [c for c in pool if _in_set(value, c, sre)] or list(pool)
            out.append(rng.choice(allowed))
        elif op is sre.BRANCH:
            out.append(_sample(rng.choice(value[1]), rng, ignore_case))
        elif op is sre.SUBPATTERN:
            out.append(_sample(value[3], rng, ignore_case))
        elif op is sre.ATOMIC_GROUP:
            out.append(_sample(value, rng, ignore_case))
        elif op in (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT):
            low, high, body = value
            count = rng.randint(low, min(high, low + 3))
            out.extend(_sample(body, rng, ignore_case) for _ in range(count))
        # anchors, lookarounds and back-references add nothing: a sample that then fails is skipped
    return "".join(out)


def _in_set(items: Any, char: str, sre: Any) -> bool:
    negate = bool(items) and items[0][0] is sre.NEGATE
    hit = False
    for op, value in items:
        if op is sre.LITERAL:
            hit |= char == chr(value)
        elif op is sre.RANGE:
            hit |= value[0] <= ord(char) <= value[1]
        elif op is sre.CATEGORY:
            name = str(value)
            if "DIGIT" in name:
                test = char.isdigit()
            elif "SPACE" in name:
                test = char.isspace()
            else:  # WORD
                test = char.isalnum() or char == "_"
            hit |= (not test) if "NOT" in name else test
    return hit != negate


def test_the_literal_prefilter_never_hides_a_match_of_any_trigger() -> None:
    from release.gate import _LiteralTest, _SecretScanner

    rng = random.Random(20261122)
    scanner = _SecretScanner.create()
    from re import _parser as parser  # type: ignore[attr-defined]

    matched: dict[str, int] = {}
    for detector in scanner.detectors:
        for trigger, literals in zip(detector.triggers, detector.literals, strict=True):
            name = f"{type(detector.plugin).__name__} {trigger.pattern[:40]}"
            matched[name] = 0
            ignore_case = bool(trigger.flags & re.IGNORECASE)
            tree = list(parser.parse(trigger.pattern, trigger.flags))
            for _ in range(60):
                chunk = f"id,value\n1,{token(ALNUM, 8)}\n{_sample(tree, rng, ignore_case)}\n2,plain text\n"
                if trigger.search(chunk.casefold() if detector.folded else chunk) is None:
                    continue
                matched[name] += 1
                assert _LiteralTest(chunk).any_of(literals, folded=detector.folded, ignore_case=ignore_case), (
                    name,
                    literals,
                    chunk,
                )
    unmatched = [name for name, count in matched.items() if count == 0]
    assert len(unmatched) <= len(matched) // 10, unmatched  # the samples did reach (nearly) every trigger


# --- the Hub's advice on files and folders ---------------------------------------------------------


def test_a_tree_past_the_hubs_file_and_folder_advice_is_warned_with_the_fix(tmp_path: Path) -> None:
    files = release_tree(tmp_path, {"README.md": "# r\n", "data/a.txt": "a", "data/b.txt": "b", "data/c/d.txt": "d"})
    findings = run_gate(files, GateConfig(max_repo_files=3, max_folder_entries=2))
    assert [(f.code, f.severity, f.path, f.where) for f in findings] == [
        ("MR503 repo-many-files", "warning", "/", "4 files"),
        ("MR504 folder-many-entries", "warning", "data/", "3 entries"),  # two files and a subfolder
    ]
    assert "fewer than 3 per repository" in findings[0].message and "Parquet" in findings[0].fix
    assert "rejects a commit that leaves more than 2 in one folder" in findings[1].message
    assert "subfolders" in findings[1].fix
    check_gate(findings)  # warnings: the release goes on
    assert run_gate(files, GateConfig(max_repo_files=4, max_folder_entries=3)) == []  # at the advice: silent
    assert check_hub_layout([f"f{n}" for n in range(3)], 10, 2)[0].path == "/"  # the root is a folder too


def test_stage_json_carries_the_gates_warnings_for_a_crowded_folder(tmp_path: Path) -> None:
    project = copy_example(tmp_path / "project")
    crowded = project / "example" / "data" / "crowded"
    crowded.mkdir()
    for number in range(HUB_MAX_FOLDER_ENTRIES + 1):
        (crowded / f"{number:05}.csv").write_text(f"{number}\n")
    result = run_cli("stage", "--json", cwd=project)
    assert result.returncode == 0, result.stderr
    warnings = [w for w in json.loads(result.stdout)["warnings"] if "MR504" in w]
    assert warnings == [  # the dataset's own repository, then the model's, which ships the data too
        f"examples/tiny-flowers-data: MR504 folder-many-entries  data/crowded/ ({HUB_MAX_FOLDER_ENTRIES + 1:,} "
        "entries): the folder data/crowded/ holds 10,001 entries; the Hub rejects a commit that leaves more than "
        "10,000 in one folder\n    fix: spread its files over subfolders of fewer entries each (e.g. data/0000/ "
        "... data/0099/), or shard them into fewer files (Parquet, WebDataset .tar)",
        "examples/tiny-flowers: MR504 folder-many-entries  datasets/tiny-flowers/crowded/ (10,001 "
        "entries): the folder datasets/tiny-flowers/crowded/ holds 10,001 entries; the Hub rejects a commit that "
        "leaves more than 10,000 in one folder\n    fix: spread its files over subfolders of fewer entries each "
        "(e.g. data/0000/ ... data/0099/), or shard them into fewer files (Parquet, WebDataset .tar)",
    ]
    assert "MR504 folder-many-entries" in result.stderr  # the text output logs them too


def test_small_text_files_scanned_together_find_exactly_what_each_scanned_alone_finds(tmp_path: Path) -> None:
    """The batched scan of many small files against the scan of each file on its own, over random files."""
    from release.gate import _SecretScanner  # the reference: one file at a time, as large files are scanned

    chooser = random.Random(20261205)
    pieces = [
        "plain words\n",
        f'token = "{HF_TOKEN}"\n',
        f"AWS_ACCESS_KEY_ID={AWS_KEY_ID}\n",
        f"password = '{AWS_SECRET}'",  # no newline: the file's last line
        "-----BEGIN RSA PRIVATE KEY-----\n" + KEY_BODY[0] + "\n",
        "export HF_TOKEN=",  # a trigger cut at the end of one file ...
        f"{HF_TOKEN}\n",  # ... and a value at the start of the next
        "ß and ǅ fold differently\n",
        "",
    ]
    files = {
        f"d/{n:03}.{chooser.choice(['txt', 'env', 'py', 'sh'])}": "".join(
            chooser.choice(pieces) for _ in range(chooser.randrange(0, 5))
        )
        for n in range(300)
    }
    pairs = release_tree(tmp_path, dict(files))
    scanner = _SecretScanner.create()
    alone = {(path, f"line {line}") for path, file in pairs for line in scanner.scan_file(path, file) or {}}
    together = {(f.path, f.where) for f in run_gate(pairs, GateConfig()) if f.code == "MR401 secret"}
    assert together == alone and len(alone) > 50  # the same findings, and plenty of them
