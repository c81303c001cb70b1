"""The several-inputs checks have teeth: faults planted in how inputs are ordered make them fail.

Covers issue 24, item 5, for several inputs (after HIPS/autograd's ``test_tests.py``): each fault
is a copy of the mechanism with one line changed (:func:`tests.planting.planted_copy`), put with
``monkeypatch`` where the explainer looks it up (the reference keeps its own, intact), and the
check of :mod:`tests.explainers.test_input_order` for its path must raise ``AssertionError``; the
same checks pass without a fault.

======================================== ========================================== ===============
fault                                    where                                      caught by
======================================== ========================================== ===============
a dict read in the user's key order      ``split_inputs`` as the explainer reads it  arrays, Dataset
maps keyed in the user's key order       ``split_inputs``'s packing                  arrays
a Dataset's maps keyed in its key order  ``datasets.batched_dataset``'s packing      Dataset
======================================== ========================================== ===============
"""

import pytest

from refdeconv import keras_model
from refdeconv.explainers import datasets, signature
from tests.explainers.test_input_order import check_arrays, check_datasets
from tests.planting import planted_copy

THREE = "three inputs of one shape, named zeta, alpha, mid"
DICT_MODEL = "a dict model {'b', 'a'} of one shape"

#: fault -> (module patched, function, line as written, line planted, the check that must fail)
FAULTS = {
    "a dict read in the user's key order, arrays": (
        signature, keras_model.split_inputs, "[inputs[k] for k in names]", "list(inputs.values())", check_arrays),
    "a dict read in the user's key order, Dataset": (
        signature, keras_model.split_inputs, "[inputs[k] for k in names]", "list(inputs.values())", check_datasets),
    "maps keyed in the user's key order": (
        signature, keras_model.split_inputs, "lambda maps: dict(zip(names, maps))",
        "lambda maps: dict(zip(inputs, maps))", check_arrays),
    "a Dataset's maps keyed in its key order": (
        datasets, datasets.batched_dataset, "dict(zip(sig.names, maps))", "dict(zip(x_spec, maps))",
        check_datasets),
}


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("model", [THREE, DICT_MODEL])
@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_a_planted_input_order_fault_fails_the_check_of_its_path(fault, model, monkeypatch):
    module, function, old, new, check = FAULTS[fault]
    monkeypatch.setattr(module, function.__name__, planted_copy(function, old, new))
    with pytest.raises(AssertionError):
        check(model, "deconvnet", "labels")


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("check", [check_arrays, check_datasets])
@pytest.mark.parametrize("model", [THREE, DICT_MODEL])
def test_the_same_checks_pass_without_a_fault(check, model):
    check(model, "deconvnet", "labels")
