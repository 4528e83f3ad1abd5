"""Render ``templates/service`` into a new service project with cookiecutter's Python API.

Everything the user gave is validated before anything is written, and the project is
rendered into a temporary directory next to the target and moved into place only when
complete, so a refused name, a bad option or a failing render leaves the disk untouched.
cookiecutter's lower-level API (``generate_context``, ``prompt_for_config``,
``generate_files``) is used instead of ``cookiecutter.main.cookiecutter`` so that prompted
answers are validated too, and no replay file is written into the user's home.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from toolkit._errors import OperationError, TargetExistsError, UsageError
from toolkit._version import __version__
from toolkit.scaffold._dockerfile import check_dockerfile_user
from toolkit.scaffold._names import package_name_for, validate_service_name

TEMPLATE_DIR = Path(__file__).resolve().parents[2] / "templates" / "service"
ANSWERS_FILE = ".toolkit.json"
MIN_PYTHON_MINOR = 11

_PYTHON_VERSION = re.compile(r"3\.(\d{1,2})")
_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]*")
_PACKAGE_KEY = "__package_name"


def template_dir() -> Path:
    """The service template shipped with toolkit (``templates/service``)."""
    if not (TEMPLATE_DIR / "cookiecutter.json").is_file():
        raise OperationError(
            f"service template not found at {TEMPLATE_DIR} (is toolkit installed from its source tree?)"
        )
    return TEMPLATE_DIR


def template_defaults() -> dict[str, Any]:
    """The template's ``cookiecutter.json``: its variables, defaults and ``_template_version``."""
    doc = json.loads((template_dir() / "cookiecutter.json").read_text(encoding="utf-8"))
    assert isinstance(doc, dict)
    return doc


def read_answers(project_dir: Path) -> dict[str, Any]:
    """What a generated project recorded about itself (template, version, answers)."""
    doc = json.loads((project_dir / ANSWERS_FILE).read_text(encoding="utf-8"))
    assert isinstance(doc, dict)
    return doc


def _check_port(port: object) -> int:
    try:
        value = int(str(port))
    except ValueError:
        raise UsageError(f"invalid port {port!r}: not a number") from None
    if not 1024 <= value <= 65535:
        raise UsageError(f"invalid port {value}: use 1024-65535 (the service runs as a non-root user)")
    return value


def _check_python_version(version: object) -> str:
    match = _PYTHON_VERSION.fullmatch(str(version))
    if match is None or int(match[1]) < MIN_PYTHON_MINOR:
        raise UsageError(
            f"invalid Python version {version!r}: use 3.{MIN_PYTHON_MINOR} or later, as MAJOR.MINOR"
        )
    return str(version)


def _check_description(description: object) -> str:
    text = str(description)
    if "\n" in text or '"' in text or "\\" in text or not text.strip():
        raise UsageError("invalid description: one non-empty line without double quotes or backslashes")
    return text


def _check_target(target: Path, *, force: bool) -> None:
    if not (target.exists() or target.is_symlink()):
        return
    if not force:
        raise TargetExistsError(f"{target} already exists; use --force to render over it")
    if target.is_symlink() or not target.is_dir():
        raise TargetExistsError(f"{target} exists and is not a directory; refusing even with --force")


def render_service(
    name: str,
    output_dir: Path,
    *,
    port: int = 8000,
    python_version: str = "3.12",
    force: bool = False,
    interactive: bool = False,
    extra_context: Mapping[str, object] | None = None,
) -> Path:
    """Render a new service called ``name`` into ``output_dir/name`` and return that path.

    ``extra_context`` sets other template variables (``description``, ``__package_name``);
    unknown keys are refused. With ``interactive`` cookiecutter prompts for every variable,
    defaulting to the values given. An existing target is refused (``TargetExistsError``)
    unless ``force``, which renders over it: template files are replaced, other files kept.
    """
    validate_service_name(name)
    output_dir = Path(output_dir)
    if output_dir.exists() and not output_dir.is_dir():
        raise UsageError(f"output directory {output_dir} is not a directory")
    _check_target(output_dir / name, force=force)

    defaults = template_defaults()
    settable = {key for key in defaults if not key.startswith("_")} | {_PACKAGE_KEY}
    unknown = sorted(set(extra_context or {}) - settable)
    if unknown:
        raise UsageError(
            f"unknown template variable(s): {', '.join(unknown)} (known: {', '.join(sorted(settable))})"
        )
    overrides: dict[str, Any] = {key: str(value) for key, value in (extra_context or {}).items()}
    overrides.update(
        service_name=name, port=str(_check_port(port)), python_version=_check_python_version(python_version)
    )
    if _PACKAGE_KEY not in overrides:
        overrides[_PACKAGE_KEY] = package_name_for(name)

    from cookiecutter.exceptions import CookiecutterException
    from cookiecutter.generate import generate_context, generate_files

    try:
        context = generate_context(
            context_file=str(template_dir() / "cookiecutter.json"), extra_context=overrides
        )
        if interactive:
            from cookiecutter.prompt import prompt_for_config  # imports rich: only when prompting

            answers = dict(prompt_for_config(context, no_input=False))
        else:
            # Every value is given or a literal default (the one templated default,
            # __package_name, is always set above), so there is nothing to prompt or render.
            answers = dict(context["cookiecutter"])
    except CookiecutterException as err:
        raise OperationError(f"template context failed: {err}") from err
    if answers["service_name"] != name:  # changed at the prompt: validate the new one too
        name = validate_service_name(str(answers["service_name"]))
        _check_target(output_dir / name, force=force)
        if _PACKAGE_KEY not in (extra_context or {}):
            answers[_PACKAGE_KEY] = package_name_for(name)
    answers["port"] = str(_check_port(answers["port"]))
    answers["python_version"] = _check_python_version(answers["python_version"])
    answers["description"] = _check_description(answers["description"])
    if _IDENTIFIER.fullmatch(str(answers[_PACKAGE_KEY])) is None:
        raise UsageError(f"invalid package name {answers[_PACKAGE_KEY]!r}: use a lowercase Python identifier")

    target = output_dir / name
    output_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".toolkit-new-", dir=output_dir))
    try:
        try:
            generate_files(
                repo_dir=str(template_dir()),
                context={"cookiecutter": answers},
                output_dir=str(staging),
                accept_hooks=False,
            )
        except CookiecutterException as err:
            raise OperationError(f"template rendering failed: {err}") from err
        rendered = staging / name
        check_dockerfile_user(rendered / "Dockerfile")
        record = {
            "template": "service",
            "template_version": defaults["_template_version"],
            "toolkit_version": __version__,
            "answers": {key: value for key, value in answers.items() if key in settable},
        }
        (rendered / ANSWERS_FILE).write_text(
            json.dumps(record, indent=2, sort_keys=True) + "\n", encoding="utf-8"
        )
        if target.exists():
            shutil.copytree(rendered, target, dirs_exist_ok=True)
        else:
            rendered.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target
