"""mmm_param_recovery: does your Media Mix Model recover the truth it was given?"""

__version__ = "0.1.0"
