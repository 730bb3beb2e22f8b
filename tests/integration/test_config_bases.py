"""The shared bases of conf/ are no option: no group lists them (--help, a typo's message) and none selects them."""

from importlib import resources

import pytest
from hydra import compose, initialize_config_module
from hydra.core.global_hydra import GlobalHydra
from hydra.errors import MissingConfigException

CONF = resources.files("entrgi.conf")
OLD_BASES = ["guidance=_gradient", "data=_hub", "reward=_hf", "reward=_skywork", "trainer=_default"]


def test_no_group_lists_a_base():
    with initialize_config_module("entrgi.conf", version_base="1.3"):
        hydra = GlobalHydra.instance().hydra
        groups = [g for g in hydra.list_all_config_groups() if not g.startswith("hydra")]
        listing = hydra.format_config_groups(lambda g: not g.startswith("hydra"))  # what --help prints
        options = {g: hydra.config_loader.get_group_options(g) for g in groups}
    assert {"guidance", "data", "reward", "trainer", "model"} <= set(groups)
    assert not [g for g in groups if any(part.startswith("_") for part in g.split("/"))], listing
    assert all(not o.startswith("_") for opts in options.values() for o in opts), options
    assert "base" not in listing and ": _" not in listing and ", _" not in listing


@pytest.mark.parametrize("override", OLD_BASES)
def test_a_base_is_refused_as_an_unknown_option(override):
    group, name = override.split("=")
    with initialize_config_module("entrgi.conf", version_base="1.3"):
        with pytest.raises(MissingConfigException, match=rf"Could not find '{group}/{name}'") as err:
            compose("run", [override, "paths.output_dir=x"])
    assert "Available options" in str(err.value) and "\t_" not in str(err.value)


def test_every_base_an_option_names_is_shipped_beside_run_yaml():
    named = set()
    for group in (p for p in CONF.iterdir() if p.is_dir()):
        for option in (p for p in group.iterdir() if p.name.endswith(".yaml")):
            named |= {
                line.split("@")[0].strip(" -/")
                for line in option.read_text().splitlines()
                if line.strip().startswith("- /_base_")
            }
    bases = {
        p.name[: -len(".yaml")] for p in CONF.iterdir() if p.name.startswith("_base_") and p.name.endswith(".yaml")
    }
    assert named and named <= bases, named - bases
