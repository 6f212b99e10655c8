"""Trust, round two: nothing run that was not asked for, nothing mislabeled, --verify vouches only for what it checked."""

from __future__ import annotations

import json
import shutil

import pytest

from conftest import run_generator
from mnist_dataset_generator import mnistdata
from mnist_dataset_generator.compose.filterspec import check_spec, imported_modules
from mnist_dataset_generator.recipe import Recipe

DATASET = ["--count", "40", "--length", "2-4", "-w", "100", "-s", "0,5", "--seed", "9", "-q"]

EVIL = (
    "import pathlib\n"
    "pathlib.Path(__file__).with_name('MARKER').write_text('imported')\n"
    "def factory(**kwargs):\n"
    "    return lambda img: img\n"
)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return mnistdata.write_test_data(tmp_path_factory.mktemp("trust-data"), 200, 40, seed=5)


@pytest.fixture(scope="module")
def finished(tmp_path_factory, data_dir):
    root = tmp_path_factory.mktemp("trust-finished")
    result = run_generator(*DATASET, "--format", "png", "--output-dir", root / "png", "-d", data_dir, cwd=root)
    assert result.returncode == 0, result.stderr
    return root / "png"


# ----------------------------------------------------------- no code from folders


@pytest.mark.parametrize("spec", ["evilmod:factory", "evilmod:factory:x=1", "blur,evilmod:factory"])
@pytest.mark.parametrize("action", ["--verify", "--resume", "--force"])
def test_a_manifest_naming_a_module_never_makes_us_import_it(tmp_path, data_dir, finished, spec, action):
    (tmp_path / "evilmod.py").write_text(EVIL)
    folder = tmp_path / "out"
    shutil.copytree(finished, folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["dataset"]["recipe"]["filters"] = spec
    manifest["dataset"]["filters"] = spec
    (folder / "manifest.json").write_text(json.dumps(manifest))
    if action == "--verify":
        result = run_generator("--verify", folder, cwd=tmp_path)
    else:
        result = run_generator(*DATASET, "--format", "png", "--output-dir", folder, "-d", data_dir, action,
                               cwd=tmp_path)
    assert not (tmp_path / "MARKER").exists(), (action, result.stderr)
    assert "Traceback" not in result.stderr
    if action == "--resume":  # compared as text: another dataset
        assert result.returncode == 2 and "differs in" in result.stderr


def test_a_manifest_naming_os_exit_does_not_end_the_run_silently(tmp_path, data_dir, finished):
    folder = tmp_path / "out"
    shutil.copytree(finished, folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["dataset"]["recipe"]["filters"] = "os:_exit:status=0"
    (folder / "manifest.json").write_text(json.dumps(manifest))
    result = run_generator(*DATASET, "--format", "png", "--output-dir", folder, "-d", data_dir, "--resume",
                           cwd=tmp_path)
    assert result.returncode == 2 and "differs in: recipe" in result.stderr, result.stderr


def test_recipe_from_json_imports_only_when_asked(tmp_path, monkeypatch):
    (tmp_path / "evilmod.py").write_text(EVIL)
    monkeypatch.syspath_prepend(str(tmp_path))
    data = {"recipe": 1, "filters": "blur,evilmod:factory"}
    with pytest.raises(ValueError, match="import module evilmod"):
        Recipe.from_json(data)
    with pytest.raises(ValueError, match="import module evilmod"):
        Recipe.from_json(json.dumps(data))
    assert not (tmp_path / "MARKER").exists()
    recipe = Recipe.from_json(data, imports=True)  # the caller's own recipe: their choice
    assert (tmp_path / "MARKER").exists() and len(recipe.prepared) == 2


def test_check_spec_checks_built_ins_and_the_form_of_imports_without_importing(tmp_path, monkeypatch):
    (tmp_path / "evilmod.py").write_text(EVIL)
    monkeypatch.syspath_prepend(str(tmp_path))
    check_spec("crop,evilmod:factory:amount=2,blur:sigma=0.5")
    assert imported_modules("crop,evilmod:factory,a.b:c") == ["evilmod", "a.b"]
    for bad in ("blur:sigma=-1", "nosuch", "evilmod:factory:amount=x", "evil-mod:factory", "evilmod:fac tory"):
        with pytest.raises(ValueError):
            check_spec(bad)
    assert not (tmp_path / "MARKER").exists()
