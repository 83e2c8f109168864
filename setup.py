"""What goes into the package, beyond what pyproject.toml can say.

The pages' static files (``pwa/`` of the checkout) are installed as the
package data of ``server.pwa``, so a non-editable install — the Dockerfile's,
or ``pip install muster-*.whl`` — serves the pages with no checkout beside it
(``server/settings.py`` looks for the checkout's ``pwa/`` first, then there).
The migrations and the mail catalogues travel as package data of ``server``.
"""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["server*", "checkin*", "realtime*"]), "server.pwa"],
    package_dir={"server.pwa": "pwa"},
    package_data={
        "server": [
            "migrations/*.ini",
            "migrations/*.py",
            "migrations/*.mako",
            "migrations/versions/*.py",
            "templates/*.toml",
        ],
        "server.pwa": ["**/*"],
    },
    exclude_package_data={"server.pwa": ["**/*.py", "**/__pycache__/*"]},
)
