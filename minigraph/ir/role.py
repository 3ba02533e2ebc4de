"""OpRole: what part of training an op belongs to (a leaf of the IR, shared by the records
and the text form)."""


class OpRole:
    """Paddle's op_role bits; clone(for_test=True) drops BACKWARD and OPTIMIZE ops."""

    FORWARD = 0
    BACKWARD = 1
    OPTIMIZE = 2
    LOSS = 256
