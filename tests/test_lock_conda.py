"""The conda lock stage: py-rattler solves against a conda channel the tests build and serve on
127.0.0.1, conda-lock's own code writes the file. Never the network: no conda-forge, no PyPI."""

from __future__ import annotations

import hashlib
import json
import socket
from collections.abc import Mapping
from importlib.resources import files
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from conda_channel import CondaChannel, CondaPipIndex
from rattler.explicit_environment import ExplicitEnvironmentSpec

from release.errors import LockError, StaleLockError
from release.lock.conda import (
    DEFAULT_PLATFORMS,
    VALID_PLATFORMS,
    CondaLockOptions,
    check_conda_lock,
    install_conda_lock,
    lock_conda,
)

BASIC = """\
name: demo
channels:
  - conda-forge
dependencies:
  - python=3.11
  - numpy
"""


def parse_lock(path: Path) -> Any:
    """conda-lock's own reading of a lock file (imported late: release.lock.conda imports conda-lock
    first, quieting the import-time warning of its vendored conda)."""
    from conda_lock.lockfile import parse_conda_lock_file

    return parse_conda_lock_file(path)


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def options(channel: CondaChannel, **kwargs: object) -> CondaLockOptions:
    return CondaLockOptions(channel_alias=channel.alias, **kwargs)  # type: ignore[arg-type]


def load(lock: Path) -> dict[str, object]:
    loaded = yaml.safe_load(lock.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def packages(lock: Path, platform: str, manager: str = "conda") -> dict[str, dict[str, object]]:
    """``{name: entry}`` of the lock's packages for one platform and manager."""
    entries = load(lock)["package"]
    assert isinstance(entries, list)
    return {p["name"]: p for p in entries if p["platform"] == platform and p["manager"] == manager}


def versions(lock: Path, platform: str) -> dict[str, str]:
    return {name: str(entry["version"]) for name, entry in packages(lock, platform).items()}


def folder_listing(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir()) if path.is_file()}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    folder = tmp_path / "project"
    folder.mkdir()
    return folder


@pytest.fixture
def basic_lock(project: Path, conda_channel: CondaChannel) -> Path:
    """A project whose environment.yml (BASIC) is locked for the default platforms."""
    lock = project / "conda-lock.yml"
    lock_conda(write(project / "environment.yml", BASIC), lock, options(conda_channel))
    return lock


# --- versions, hashes, file format ---------------------------------------------------------------


def test_python_pin_chooses_numpy_1_26_on_every_platform(project: Path, conda_channel: CondaChannel) -> None:
    lock = project / "conda-lock.yml"
    result = lock_conda(write(project / "environment.yml", BASIC), lock, options(conda_channel))

    assert result.path == lock
    assert result.platforms == DEFAULT_PLATFORMS == ("linux-64", "osx-arm64", "win-64")
    assert versions(lock, "linux-64") == {
        "python": "3.11.9",
        "numpy": "1.26.4",
        "libzlib": "1.3.1",
        "tzdata": "2024a",
    }
    assert versions(lock, "osx-arm64") == versions(lock, "linux-64")
    assert versions(lock, "win-64") == {"python": "3.11.9", "numpy": "1.26.4", "tzdata": "2024a"}
    assert dict(result.packages) == {"linux-64": 4, "osx-arm64": 4, "win-64": 3}
    assert result.explicit == ()
    assert not list(project.glob("conda-*.lock"))


def test_without_a_pin_the_newest_python_and_numpy_2_are_chosen(project: Path, conda_channel: CondaChannel) -> None:
    env = write(project / "environment.yml", BASIC.replace("python=3.11", "python"))
    lock = project / "conda-lock.yml"
    lock_conda(env, lock, options(conda_channel, platforms=("linux-64",)))

    assert versions(lock, "linux-64")["python"] == "3.12.3"
    assert versions(lock, "linux-64")["numpy"] == "2.0.0"


def test_locked_md5_and_sha256_are_those_of_the_package_files(basic_lock: Path, conda_channel: CondaChannel) -> None:
    for platform in DEFAULT_PLATFORMS:
        for name, entry in packages(basic_lock, platform).items():
            data = conda_channel.file(str(entry["url"])).read_bytes()
            assert entry["hash"] == {
                "md5": hashlib.md5(data).hexdigest(),
                "sha256": hashlib.sha256(data).hexdigest(),
            }, f"{platform} {name}"


def test_lock_validates_against_conda_lock_schema_and_round_trips(basic_lock: Path) -> None:
    schema = json.loads(files("conda_lock").joinpath("lockfile/v1/conda-lock-v1.schema.json").read_text("utf-8"))
    jsonschema.validate(load(basic_lock), schema)

    parsed = parse_lock(basic_lock)
    assert parsed.metadata.platforms == list(DEFAULT_PLATFORMS)
    assert parsed.metadata.sources == ["environment.yml"]
    assert [channel.url for channel in parsed.metadata.channels] == ["conda-forge"]
    assert set(parsed.metadata.content_hash) == set(DEFAULT_PLATFORMS)
    written = {
        (str(p["platform"]), str(p["name"]), str(p["version"]), str(p["url"]))
        for platform in DEFAULT_PLATFORMS
        for p in packages(basic_lock, platform).values()
    }
    assert {(p.platform, p.name, p.version, p.url) for p in parsed.package} == written
    assert all(p.categories == {"main"} for p in parsed.package)


def test_the_same_input_writes_the_same_bytes(basic_lock: Path, conda_channel: CondaChannel) -> None:
    first = basic_lock.read_bytes()
    lock_conda(basic_lock.parent / "environment.yml", basic_lock, options(conda_channel))
    assert basic_lock.read_bytes() == first
    assert '# Install this environment as "YOURENV" with:\n#     conda-lock install -n YOURENV conda-lock.yml\n' in (
        first.decode()
    )


def test_explicit_files_parse_with_rattler(project: Path, conda_channel: CondaChannel) -> None:
    lock = project / "conda-lock.yml"
    result = lock_conda(write(project / "environment.yml", BASIC), lock, options(conda_channel, explicit_files=True))

    assert result.explicit == tuple(project / f"conda-{platform}.lock" for platform in DEFAULT_PLATFORMS)
    content_hash = load(lock)["metadata"]["content_hash"]  # type: ignore[index]
    for platform, path in zip(DEFAULT_PLATFORMS, result.explicit, strict=True):
        text = path.read_text(encoding="utf-8")
        assert f"# input_hash: {content_hash[platform]}\n" in text
        spec = ExplicitEnvironmentSpec.from_str(text)
        assert str(spec.platform) == platform
        expected = {f"{p['url']}#{p['hash']['md5']}" for p in packages(lock, platform).values()}  # type: ignore[index]
        assert {str(package.url) for package in spec.packages} == expected
    check_conda_lock(project / "environment.yml", lock, options(conda_channel, explicit_files=True))

    write(result.explicit[0], result.explicit[0].read_text(encoding="utf-8").replace("input_hash: ", "input_hash: 0"))
    with pytest.raises(StaleLockError, match=r"conda-linux-64\.lock"):
        check_conda_lock(project / "environment.yml", lock, options(conda_channel, explicit_files=True))


# --- selectors, platforms, virtual packages ------------------------------------------------------


def test_selectors_are_honoured_per_platform(project: Path, conda_channel: CondaChannel) -> None:
    env = write(project / "environment.yml", BASIC + "  - pip  # [osx]\n  - tzdata  # [linux]\n")
    lock = project / "conda-lock.yml"
    lock_conda(env, lock, options(conda_channel))

    assert "pip" in versions(lock, "osx-arm64")
    assert "pip" not in versions(lock, "linux-64")
    assert "pip" not in versions(lock, "win-64")
    spec = {p.name: p for p in parse_lock(lock).package if p.platform == "osx-arm64"}
    assert spec["pip"].dependencies == {"python": ">=3.7"}


def test_platforms_in_environment_yml_are_used_unless_the_options_set_others(
    project: Path, conda_channel: CondaChannel
) -> None:
    env = write(project / "environment.yml", BASIC + "platforms:\n  - linux-64\n  - win-64\n")
    lock = project / "conda-lock.yml"

    assert lock_conda(env, lock, options(conda_channel)).platforms == ("linux-64", "win-64")
    assert lock_conda(env, lock, options(conda_channel, platforms=("osx-arm64",))).platforms == ("osx-arm64",)
    assert load(lock)["metadata"]["platforms"] == ["osx-arm64"]  # type: ignore[index]


def test_virtual_packages_are_set_per_platform(project: Path, conda_channel: CondaChannel) -> None:
    env = write(project / "environment.yml", BASIC + "  - cuda-only  # [linux]\n")
    lock = project / "conda-lock.yml"
    platforms = ("linux-64", "osx-arm64")

    # conda-lock's default __cuda is 11.4: cuda-only (needs __cuda >=12) cannot be installed.
    with pytest.raises(LockError, match=r"(?s)linux-64: .*cuda-only.*__cuda >=12") as failed:
        lock_conda(env, lock, options(conda_channel, platforms=platforms))
    assert "osx-arm64:" not in str(failed.value)

    cuda = {"linux-64": {"__cuda": "12.4"}}
    lock_conda(env, lock, options(conda_channel, platforms=platforms, virtual_packages=cuda))
    assert versions(lock, "linux-64")["cuda-only"] == "1.0"
    assert "cuda-only" not in versions(lock, "osx-arm64")
    check_conda_lock(env, lock, options(conda_channel, platforms=platforms, virtual_packages=cuda))
    # The virtual packages are part of the content hash.
    with pytest.raises(StaleLockError, match="linux-64"):
        check_conda_lock(env, lock, options(conda_channel, platforms=platforms, virtual_packages={}))

    # osx gets __osx 11.0 by default (python needs >=11.0); an older macOS cannot have it.
    old_mac = {"osx-arm64": {"__osx": "10.15"}, **cuda}
    with pytest.raises(LockError, match=r"(?s)osx-arm64: .*__osx >=11.0"):
        lock_conda(env, lock, options(conda_channel, platforms=platforms, virtual_packages=old_mac))
    no_glibc = {"linux-64": {"__glibc": "", "__cuda": "12.4"}}
    with pytest.raises(LockError, match=r"(?s)linux-64: .*__glibc >=2.17"):
        lock_conda(env, lock, options(conda_channel, platforms=platforms, virtual_packages=no_glibc))


def test_bad_virtual_packages_are_refused(project: Path, conda_channel: CondaChannel) -> None:
    env = write(project / "environment.yml", BASIC)
    with pytest.raises(LockError, match="unknown platform 'linux64'"):
        lock_conda(env, project / "conda-lock.yml", options(conda_channel, virtual_packages={"linux64": {}}))
    with pytest.raises(LockError, match=r"'cuda' .* is not a virtual package"):
        lock_conda(
            env, project / "conda-lock.yml", options(conda_channel, virtual_packages={"linux-64": {"cuda": "12"}})
        )
    assert not (project / "conda-lock.yml").exists()


def test_valid_platforms_are_those_conda_lock_and_rattler_both_support() -> None:
    assert {
        "linux-64",
        "linux-aarch64",
        "linux-ppc64le",
        "osx-64",
        "osx-arm64",
        "win-64",
    } == VALID_PLATFORMS


# --- installing from the lock --------------------------------------------------------------------


def test_install_gives_exactly_the_locked_set(basic_lock: Path, tmp_path: Path) -> None:
    prefix = tmp_path / "prefix"
    installed = install_conda_lock(basic_lock, prefix, "linux-64", cache_dir=tmp_path / "pkgs")

    locked = packages(basic_lock, "linux-64")
    assert installed == sorted(locked)
    records = {path.name for path in (prefix / "conda-meta").glob("*.json")}
    expected = {
        f"{str(entry['url']).rsplit('/', 1)[1].removesuffix('.conda').removesuffix('.tar.bz2')}.json"
        for entry in locked.values()
    }
    assert records == expected
    assert (prefix / "bin" / "python3.11").is_file()
    assert (prefix / "lib" / "python3.11" / "site-packages" / "numpy" / "__init__.py").is_file()


def test_install_refuses_a_platform_the_lock_does_not_have(basic_lock: Path, tmp_path: Path) -> None:
    with pytest.raises(LockError, match="has no packages for linux-aarch64: it locks linux-64, osx-arm64, win-64"):
        install_conda_lock(basic_lock, tmp_path / "prefix", "linux-aarch64", cache_dir=tmp_path / "pkgs")
    assert not (tmp_path / "prefix").exists()


def test_install_refuses_a_package_whose_md5_differs_from_the_lock(basic_lock: Path, tmp_path: Path) -> None:
    numpy = packages(basic_lock, "linux-64")["numpy"]
    md5 = numpy["hash"]["md5"]  # type: ignore[index]
    write(basic_lock, basic_lock.read_text(encoding="utf-8").replace(f"md5: {md5}", f"md5: {'f' * 32}"))
    with pytest.raises(LockError, match=r"numpy-1\.26\.4-py311h64a7726_0\.conda: the channel's md5/sha256"):
        install_conda_lock(basic_lock, tmp_path / "prefix", "linux-64", cache_dir=tmp_path / "pkgs")
    assert not (tmp_path / "prefix" / "conda-meta").exists()


# --- lock --check --------------------------------------------------------------------------------


def test_check_passes_then_flips_when_a_spec_changes(basic_lock: Path, conda_channel: CondaChannel) -> None:
    env = basic_lock.parent / "environment.yml"
    check_conda_lock(env, basic_lock, options(conda_channel))

    # Comments and formatting are not part of the content hash.
    write(env, "# the demo environment\n" + BASIC.replace("  - numpy\n", "  - numpy   # arrays\n"))
    check_conda_lock(env, basic_lock, options(conda_channel))

    write(env, BASIC.replace("  - numpy\n", "  - numpy <2\n"))
    with pytest.raises(StaleLockError, match=r"conda-lock\.yml is stale: .*linux-64, osx-arm64, win-64"):
        check_conda_lock(env, basic_lock, options(conda_channel))


def test_check_flips_when_the_platforms_change(basic_lock: Path, conda_channel: CondaChannel) -> None:
    env = basic_lock.parent / "environment.yml"
    wanted = options(conda_channel, platforms=("linux-64", "osx-64"))
    with pytest.raises(StaleLockError, match=r"missing osx-64.*not wanted: osx-arm64, win-64"):
        check_conda_lock(env, basic_lock, wanted)


def test_check_names_a_missing_or_unreadable_lock(project: Path, conda_channel: CondaChannel) -> None:
    env = write(project / "environment.yml", BASIC)
    lock = project / "conda-lock.yml"
    with pytest.raises(StaleLockError, match=r"conda-lock\.yml is missing"):
        check_conda_lock(env, lock, options(conda_channel))
    write(lock, "just: text\n")
    with pytest.raises(StaleLockError, match=r"conda-lock\.yml is not a conda-lock file"):
        check_conda_lock(env, lock, options(conda_channel))


# --- bad input: an error naming the problem, and nothing written ---------------------------------


def assert_untouched(folder: Path, before: Mapping[str, bytes]) -> None:
    """The folder holds exactly the files it held, byte for byte (no temporary file left)."""
    assert folder_listing(folder) == before
    assert not [path for path in folder.iterdir() if path.name.startswith(".")]


def test_unsolvable_spec_names_it_and_keeps_the_previous_lock(basic_lock: Path, conda_channel: CondaChannel) -> None:
    env = write(basic_lock.parent / "environment.yml", BASIC.replace("  - numpy\n", "  - numpy >=3\n"))
    before = folder_listing(basic_lock.parent)

    with pytest.raises(LockError) as failed:
        lock_conda(env, basic_lock, options(conda_channel))

    message = str(failed.value)
    assert f"Could not lock {env}" in message
    assert "numpy >=3" in message
    assert all(f"{platform}: " in message for platform in DEFAULT_PLATFORMS)
    assert f"{basic_lock} was left as it was" in message
    assert_untouched(basic_lock.parent, before)


def test_conflicting_specs_are_quoted(project: Path, conda_channel: CondaChannel) -> None:
    env = write(project / "environment.yml", BASIC.replace("  - numpy\n", "  - numpy=2.0\n"))
    with pytest.raises(LockError, match=r"(?s)linux-64: .*numpy.*python") as failed:
        lock_conda(env, project / "conda-lock.yml", options(conda_channel, platforms=("linux-64",)))
    assert "does not exist yet" in str(failed.value)
    assert not (project / "conda-lock.yml").exists()


def test_defaults_channel_is_refused_with_what_to_write(project: Path, conda_channel: CondaChannel) -> None:
    env = write(project / "environment.yml", BASIC.replace("  - conda-forge\n", "  - conda-forge\n  - defaults\n"))
    with pytest.raises(LockError) as failed:
        lock_conda(env, project / "conda-lock.yml", options(conda_channel))
    message = str(failed.value)
    assert message.startswith(f"{env}:4: the channel `defaults`")
    assert "conda-forge" in message
    assert "https://repo.anaconda.com/pkgs/main" in message
    assert "strict priority" in message
    assert folder_listing(project) == {"environment.yml": env.read_bytes()}


def test_unknown_platform_lists_the_valid_ones(project: Path, conda_channel: CondaChannel) -> None:
    env = write(project / "environment.yml", BASIC)
    with pytest.raises(LockError, match=r"Unknown platform 'linux-32'") as failed:
        lock_conda(env, project / "conda-lock.yml", options(conda_channel, platforms=("linux-64", "linux-32")))
    assert all(platform in str(failed.value) for platform in VALID_PLATFORMS)

    write(env, BASIC + "platforms: [win-arm64]\n")
    with pytest.raises(LockError, match=r"Unknown platform 'win-arm64' \(from `platforms:` in .*environment\.yml\)"):
        lock_conda(env, project / "conda-lock.yml", options(conda_channel))
    assert not (project / "conda-lock.yml").exists()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "channels: [conda-forge]\ndependencies:\n  - python=3.11\n  - numpy: [\n",
            r"environment\.yml:5:1: not valid YAML",
        ),
        ("channels: [conda-forge]\ndependencies:\n\t- numpy\n", r"environment\.yml:3:1: not valid YAML"),
        (
            "channels: [conda-forge]\ndependencies:\n  - python=3.11\n  - numpy >>=1\n",
            r"environment\.yml:4: `numpy >>=1`",
        ),
        (
            "channels: [conda-forge]\ndependencies:\n  - python\n  - pip:\n    - -r requirements.txt\n",
            r":5: `-r requirements",
        ),
        (
            "channels: [conda-forge]\ndependencies:\n  - pip:\n    - six==1.0 --hash=sha256:00\n",
            r":4: .*remove the --hash",
        ),
        ("channels: [conda-forge]\ndependencies:\n  - 3\n  - {conda: numpy}\n", r"environment\.yml:4: each entry"),
        ("channels: [conda-forge]\n", r"environment\.yml: has no `dependencies:` list"),
        ("dependencies: [numpy]\n", r"environment\.yml: has no `channels:` list"),
        ("- numpy\n", r"environment\.yml:1: expected a mapping"),
    ],
)
def test_malformed_environment_yml_names_file_and_line(
    project: Path, conda_channel: CondaChannel, text: str, expected: str
) -> None:
    env = write(project / "environment.yml", text)
    with pytest.raises(LockError, match=expected):
        lock_conda(env, project / "conda-lock.yml", options(conda_channel))
    with pytest.raises(LockError, match=expected):
        check_conda_lock(env, project / "conda-lock.yml", options(conda_channel))
    assert folder_listing(project) == {"environment.yml": env.read_bytes()}


def test_missing_environment_yml_is_named(project: Path, conda_channel: CondaChannel) -> None:
    with pytest.raises(LockError, match=r"environment\.yml does not exist"):
        lock_conda(project / "environment.yml", project / "conda-lock.yml", options(conda_channel))


def closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_unreachable_channel_is_named_and_nothing_is_written(basic_lock: Path, conda_channel: CondaChannel) -> None:
    env = basic_lock.parent / "environment.yml"
    before = folder_listing(basic_lock.parent)
    alias = f"http://127.0.0.1:{closed_port()}/"

    with pytest.raises(LockError) as failed:
        lock_conda(env, basic_lock, CondaLockOptions(channel_alias=alias))

    message = str(failed.value)
    assert f"conda-forge ({alias}conda-forge/)" in message
    assert "Nothing was written" in message
    assert_untouched(basic_lock.parent, before)


def test_a_channel_the_server_does_not_have_is_named(project: Path, conda_channel: CondaChannel) -> None:
    env = write(project / "environment.yml", BASIC.replace("conda-forge", "no-such-channel"))
    with pytest.raises(LockError) as failed:
        lock_conda(env, project / "conda-lock.yml", options(conda_channel))
    assert f"no-such-channel ({conda_channel.alias}no-such-channel/)" in str(failed.value)
    assert "404" in str(failed.value)
    assert folder_listing(project) == {"environment.yml": env.read_bytes()}


# --- the pip: section ----------------------------------------------------------------------------


def pip_environment(index: CondaPipIndex) -> str:
    return BASIC + (
        f"  - pip\n  - pip:\n    - tinypkg\npip-repositories:\n  - {index.url}\nallow-pypi-requests: false\n"
    )


@pytest.mark.slow
def test_pip_section_is_locked_with_sha256_for_each_platform(
    project: Path, conda_channel: CondaChannel, conda_pip_index: CondaPipIndex
) -> None:
    env = write(project / "environment.yml", pip_environment(conda_pip_index))
    lock = project / "conda-lock.yml"
    result = lock_conda(env, lock, options(conda_channel, pypi_mapping=conda_pip_index.mapping, explicit_files=True))

    for platform in DEFAULT_PLATFORMS:
        pip = packages(lock, platform, manager="pip")
        assert {name: entry["version"] for name, entry in pip.items()} == {"tinypkg": "1.0", "tinydep": "1.1"}
        for key in ("tinypkg==1.0", "tinydep==1.1"):
            name = key.partition("==")[0]
            assert pip[name]["hash"] == {"sha256": conda_pip_index.sha256(key)}
            assert str(pip[name]["url"]).endswith(conda_pip_index.wheels[key].name)
        assert "pip" in versions(lock, platform)
    assert dict(result.packages) == {"linux-64": 7, "osx-arm64": 7, "win-64": 6}
    explicit = (project / "conda-linux-64.lock").read_text(encoding="utf-8")
    assert f"#sha256={conda_pip_index.sha256('tinydep==1.1')}" in explicit
    check_conda_lock(env, lock, options(conda_channel, pypi_mapping=conda_pip_index.mapping))


def test_pip_section_without_a_mapping_says_what_to_pass(
    project: Path, conda_channel: CondaChannel, conda_pip_index: CondaPipIndex
) -> None:
    env = write(project / "environment.yml", pip_environment(conda_pip_index))
    with pytest.raises(LockError, match=r"has a `pip:` section.*CondaLockOptions\.pypi_mapping"):
        lock_conda(env, project / "conda-lock.yml", options(conda_channel))
    assert not (project / "conda-lock.yml").exists()


@pytest.mark.slow
def test_unresolvable_pip_requirement_names_it(
    project: Path, conda_channel: CondaChannel, conda_pip_index: CondaPipIndex
) -> None:
    env = write(project / "environment.yml", pip_environment(conda_pip_index).replace("- tinypkg", "- tinydep>=2"))
    with pytest.raises(LockError, match=r"(?s)`pip:` section of .*tinydep.*Nothing was written"):
        lock_conda(env, project / "conda-lock.yml", options(conda_channel, pypi_mapping=conda_pip_index.mapping))
    assert not (project / "conda-lock.yml").exists()
