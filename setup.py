"""Only what pyproject.toml cannot say: the repository's configs/ installed as the package folder core/configs.

core.paths.CONFIG_DIR finds them there in an installed wheel, and at the repository root in a clone.
"""
from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["core*", "zoo*", "heads*", "occupancy*"], exclude=["zoo.sample*"]), "core.configs"],
    package_dir={"core.configs": "configs"},
)
