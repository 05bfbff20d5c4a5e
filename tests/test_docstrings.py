"""The public docstrings: numpydoc validation, and their examples run as doctests.

Public objects are the names in the ``__all__`` of the public modules (``sklearn_lowrank``,
``sklearn_lowrank.datasets``, ``sklearn_lowrank.metrics``) and the public methods that
:class:`~sklearn_lowrank.PrunedFactorSensing` defines itself; methods inherited from
scikit-learn (``get_params``, ``set_output``, ...) carry scikit-learn's docstrings and
are not ours to check.

The doctests use the standard library's ``doctest`` (no pytest flag needed), on the
public modules' docstrings and on the snippets of the user guide.
"""

from __future__ import annotations

import doctest
import importlib
import inspect
import re
import typing
from pathlib import Path

import pytest

PUBLIC_MODULES = ["sklearn_lowrank", "sklearn_lowrank.datasets", "sklearn_lowrank.metrics"]
DOCS = Path(__file__).resolve().parents[1] / "docs"

# numpydoc error codes that are not enforced, with the reason. Everything else is: a
# summary line, every parameter documented with a type and a description, sections in
# order, a Returns section, ...
IGNORED = {
    "ES01": "an extended summary is optional: a one-line summary often says it all",
    "RT02": "Returns entries name their value (``self : PrunedFactorSensing``), as in "
    "scikit-learn",
}
# Methods are shown in their class's Examples section, as in scikit-learn, and their
# natural See Also would only point back to the class.
IGNORED_FOR_METHODS = {
    **IGNORED,
    "EX01": "methods are exercised by the class's Examples section",
    "SA01": "a method's See Also would only name its class",
}


def _public_names():
    names = []
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        for name in module.__all__:
            if name.startswith("__"):  # __version__
                continue
            names.append(f"{module_name}.{name}")
    return names


def _own_methods(class_path):
    """Public methods defined in the class itself (not inherited from scikit-learn)."""
    module_name, class_name = class_path.rsplit(".", 1)
    cls = getattr(importlib.import_module(module_name), class_name)
    return [
        f"{class_path}.{name}"
        for name, member in vars(cls).items()
        if not name.startswith("_") and inspect.isfunction(member)
    ]


def _resolve(import_path):
    """The object named ``package.module.Name[.method]``."""
    parts = import_path.split(".")
    for split in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:split]))
        except ImportError:
            continue
        for attribute in parts[split:]:
            obj = getattr(obj, attribute)
        return obj
    raise ImportError(import_path)


PUBLIC_OBJECTS = _public_names()
PUBLIC_METHODS = [
    method
    for name in PUBLIC_OBJECTS
    if inspect.isclass(_resolve(name))
    for method in _own_methods(name)
]


def test_public_objects_are_found():
    # Guards against an empty parametrisation silently checking nothing.
    assert "sklearn_lowrank.PrunedFactorSensing" in PUBLIC_OBJECTS
    assert "sklearn_lowrank.datasets.make_low_rank_sensing" in PUBLIC_OBJECTS
    assert "sklearn_lowrank.metrics.relative_error" in PUBLIC_OBJECTS
    assert "sklearn_lowrank.PrunedFactorSensing.fit" in PUBLIC_METHODS


def _validation_errors(import_path, ignored):
    validate = pytest.importorskip("numpydoc.validate").validate
    result = validate(import_path)
    return [
        f"{code}: {message}" for code, message in result["errors"] if code not in ignored
    ]


@pytest.mark.parametrize("import_path", PUBLIC_OBJECTS)
def test_public_docstring_is_valid(import_path):
    errors = _validation_errors(import_path, IGNORED)
    assert not errors, f"{import_path}:\n" + "\n".join(errors)


@pytest.mark.parametrize("import_path", PUBLIC_METHODS)
def test_method_docstring_is_valid(import_path):
    errors = _validation_errors(import_path, IGNORED_FOR_METHODS)
    assert not errors, f"{import_path}:\n" + "\n".join(errors)


@pytest.mark.parametrize("import_path", PUBLIC_OBJECTS + PUBLIC_METHODS)
def test_public_signature_is_annotated(import_path):
    obj = _resolve(import_path)
    function = obj.__init__ if inspect.isclass(obj) else obj
    hints = typing.get_type_hints(function)  # also fails on an unresolvable hint
    parameters = [name for name in inspect.signature(function).parameters if name != "self"]
    missing = [name for name in parameters if name not in hints]
    if not inspect.isclass(obj) and "return" not in hints:
        missing.append("return")
    assert not missing, f"{import_path}: no type hint for {missing}"


@pytest.mark.parametrize("import_path", PUBLIC_OBJECTS)
def test_public_object_has_examples(import_path):
    # Stated separately so the reason a check fails is plain: each public class and
    # function shows how it is called, and test_doctests below runs it.
    obj = _resolve(import_path)
    assert re.search(r"^\s*Examples\n\s*-{8}", inspect.getdoc(obj), re.MULTILINE)


# A name ending in "_" is a hyperlink reference in reStructuredText: ``(n_iter_,)`` in a
# type breaks the docs build ("Unknown target name"). Such names are written in
# backticks, ``(`n_iter_`,)``, as scikit-learn does.
_BARE_TRAILING_UNDERSCORE = re.compile(r"(?<![`\w])([A-Za-z]\w*_)(?![\w`])")


@pytest.mark.parametrize("import_path", PUBLIC_OBJECTS + PUBLIC_METHODS)
def test_types_render_in_restructuredtext(import_path):
    docscrape = pytest.importorskip("numpydoc.docscrape")
    doc = docscrape.NumpyDocString(inspect.getdoc(_resolve(import_path)))
    bad = [
        f"{entry.name} : {entry.type}"
        for section in ("Parameters", "Attributes", "Returns", "Other Parameters")
        for entry in doc[section]
        if _BARE_TRAILING_UNDERSCORE.search(entry.type)
    ]
    assert not bad, (
        f"{import_path}: write names ending in '_' in backticks in these types: {bad}"
    )


def test_api_reference_lists_every_public_object():
    api = DOCS / "api.rst"
    if not api.exists():
        pytest.skip("docs/ is not part of this checkout")
    text = api.read_text(encoding="utf-8")
    missing = [name for name in PUBLIC_OBJECTS if name.rsplit(".", 1)[1] not in text]
    assert not missing, f"not in docs/api.rst: {missing}"


# -- doctests ----------------------------------------------------------------------------
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def _module_doctests():
    finder = doctest.DocTestFinder(exclude_empty=True)
    tests = []
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        tests += finder.find(module, module_name)
        # A package's finder skips objects imported from its private modules: look at
        # each public name where it is defined.
        for name in module.__all__:
            obj = getattr(module, name)
            if inspect.getmodule(obj) is not module and (
                inspect.isclass(obj) or inspect.isfunction(obj)
            ):
                tests += finder.find(obj, f"{module_name}.{name}", module=False)
    unique = {test.name: test for test in tests if test.examples}
    return sorted(unique.values(), key=lambda test: test.name)


def _guide_doctests():
    tests = []
    parser = doctest.DocTestParser()
    for path in sorted(DOCS.glob("*.rst")):
        text = path.read_text(encoding="utf-8")
        test = parser.get_doctest(text, {}, f"docs/{path.name}", str(path), 0)
        if test.examples:
            tests.append(test)
    return tests


MODULE_DOCTESTS = _module_doctests()
GUIDE_DOCTESTS = _guide_doctests()


def _run(test):
    output = []
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    result = runner.run(test, out=output.append, clear_globs=True)
    assert result.failed == 0, "".join(output)


def test_doctests_are_found():
    names = {test.name for test in MODULE_DOCTESTS}
    assert "sklearn_lowrank.PrunedFactorSensing" in names
    assert "sklearn_lowrank.datasets.make_low_rank_sensing" in names
    assert "sklearn_lowrank.metrics.relative_error" in names


@pytest.mark.parametrize("test", MODULE_DOCTESTS, ids=lambda test: test.name)
def test_doctests(test):
    _run(test)


@pytest.mark.parametrize("test", GUIDE_DOCTESTS, ids=lambda test: test.name)
def test_user_guide_doctests(test):
    _run(test)
