"""Fitters: the model builders, their prior scales, one adapter per library and one class
per sampler, and the registry that names them. Only these modules import PyMC-Marketing
or Meridian, and only lazily, inside the functions that need them."""
