"""What pyproject.toml cannot say: the component library's repository folder, components/, is
installed under the import name ``flowpy_components``, which no other project's package can
collide with (a top-level ``components`` would, and a user's own ``components/`` folder in the
working directory would shadow it)."""

from setuptools import find_packages, setup

LIBRARY = "flowpy_components"

setup(
    packages=find_packages(include=["flowpy", "flowpy.*"])
    + [LIBRARY]
    + [f"{LIBRARY}.{name}" for name in find_packages("components")],
    package_dir={LIBRARY: "components"},
)
