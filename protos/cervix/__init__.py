"""Generated code of the cervixai wire contract (proto package cervix)."""
