"""Variable initializers, as in ``fp.variable("W", [784, 256], init=fp.init.he_normal(seed=1))``.

Each returns an :class:`Initializer`, which the graph stores with its variable
(so a saved graph carries it and a parameter server can create the variable
from the graph alone). The values are a pure function of the seed and the
element's position: the same seed gives the same values in every process.
Fans are Keras's: ``[in, out]`` has fan_in = in, fan_out = out; a filter
``[kh, kw, in, out]`` has fan_in = kh*kw*in, fan_out = kh*kw*out.
"""


class Initializer:
    """One initializer: a kind (see ``flowps._flowps.initializer_kinds()``) and its parameters."""

    def __init__(self, kind, **params):
        self.kind = kind
        self.params = params

    def attrs(self):
        """The Variable node attributes that carry this initializer."""
        out = {"init": self.kind}
        for key, value in self.params.items():
            out["init_" + key] = int(value) if key == "seed" else float(value)
        return out

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"flowps.init.{self.kind}({args})"


def zeros():
    return Initializer("zeros")


def constant(value):
    return Initializer("constant", value=value)


def random_uniform(minval=-0.05, maxval=0.05, seed=0):
    return Initializer("uniform", min=minval, max=maxval, seed=seed)


def random_normal(mean=0.0, stddev=0.05, seed=0):
    return Initializer("normal", mean=mean, stddev=stddev, seed=seed)


def truncated_normal(mean=0.0, stddev=0.05, seed=0):
    """N(mean, stddev^2), redrawn until within two stddev of the mean."""
    return Initializer("truncated_normal", mean=mean, stddev=stddev, seed=seed)


def glorot_uniform(seed=0):
    """U(-l, l), l = sqrt(6 / (fan_in + fan_out))."""
    return Initializer("glorot_uniform", seed=seed)


def glorot_normal(seed=0):
    """N(0, 2 / (fan_in + fan_out))."""
    return Initializer("glorot_normal", seed=seed)


def he_uniform(seed=0):
    """U(-l, l), l = sqrt(6 / fan_in)."""
    return Initializer("he_uniform", seed=seed)


def he_normal(seed=0):
    """N(0, 2 / fan_in), not truncated: the built-in models' initializer."""
    return Initializer("he_normal", seed=seed)
