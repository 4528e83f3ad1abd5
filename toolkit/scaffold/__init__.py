"""``toolkit new``: scaffold a containerized microservice from ``templates/service``.

    render_service(name, output_dir, port=..., python_version=..., force=..., ...) -> Path
    validate_service_name(name)          DNS-1123 label check (``InvalidNameError``)
    check_dockerfile_user(path)          final USER numeric and not root (``VerificationError``)

``toolkit split`` renders the same template for each service it carves out of a monolith.
"""

from toolkit.scaffold._dockerfile import check_dockerfile_user, final_user
from toolkit.scaffold._names import package_name_for, validate_service_name
from toolkit.scaffold._render import (
    ANSWERS_FILE,
    read_answers,
    render_service,
    template_defaults,
    template_dir,
)

__all__ = [
    "ANSWERS_FILE",
    "check_dockerfile_user",
    "final_user",
    "package_name_for",
    "read_answers",
    "render_service",
    "template_defaults",
    "template_dir",
    "validate_service_name",
]
