"""``python -m eprop_jax.cli ...``: the ``eprop-jax`` command (:func:`eprop_jax.cli.main`)."""

from . import main

raise SystemExit(main())
