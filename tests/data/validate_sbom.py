"""Validates an SBOM with the official validators: SPDX 2.3 documents with
spdx-tools (its parser and the SPDX 2.3 validation rules), CycloneDX 1.5 with
cyclonedx-python-lib's strict JSON validator (the official CycloneDX 1.5 JSON
schema it ships). Prints the problems and exits 1 if there are any."""

import json
import sys


def spdx(path):
    from spdx_tools.spdx.parser.parse_anything import parse_file
    from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document

    document = parse_file(path)
    problems = validate_full_spdx_document(document, "SPDX-2.3")
    return [p.validation_message for p in problems]


def cyclonedx(path):
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    error = JsonStrictValidator(SchemaVersion.V1_5).validate_str(open(path).read())
    return [str(error)] if error else []


def main():
    kind, path = sys.argv[1], sys.argv[2]
    problems = spdx(path) if kind == "spdx" else cyclonedx(path)
    for problem in problems:
        print(problem)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
