"""Everything that runs inside the sandbox (bubblewrap, or the plain worker): the worker loop,
the notebook loader and the protocol. Imports only the standard library, ``helpers`` and this
package; the trusted side may import it, never the other way round."""
