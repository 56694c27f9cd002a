"""The scenario runner (``flask scenario run``): a county's year acted out through the real workflows.

- ``spec``: reads and validates a ``pe-scenario/1`` file into typed values;
- ``setup``: creates the groups, units, departments and the users holding every role it implies;
- ``runner``: opens the cycle and drives every process task by task, as the right user, through
  ``steps.submit`` — the same service layer the web pages and the API use;
- ``output``: writes the ``pe-result/1`` file from the final results.
"""
