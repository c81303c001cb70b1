"""Recurrent layers (``SimpleRNN``, ``LSTM``, ``GRU``): forward loop over time and
backpropagation through time, side by side.

A recurrent layer is one operation, :class:`Recurrent`, that holds a cell and runs it over the
time axis (vectorised over the batch). Its vector-Jacobian product recomputes the forward states
and walks the steps in reverse; every activation of every step goes through its own
operation's ``vjp(..., rule)``, so a ReLU activation gets the rule at every time step (the
override that a TensorFlow ``while_loop`` hides, DESIGN.md §4) and sigmoid/tanh keep their
ordinary derivative. Dropout and recurrent dropout are identities at inference; ``unroll``
changes how Keras builds the loop, not the maths.

Layouts are Keras 3's (``keras/src/layers/rnn/{simple_rnn,lstm,gru}.py``): kernel
``(features, gates * units)``, recurrent kernel ``(units, gates * units)``, gate columns in
the order ``[i, f, c, o]`` (LSTM) and ``[z, r, h]`` (GRU); states start at zero.
"""

from __future__ import annotations

import keras
import numpy as np

from .reading import activation_ops, unsupported, weight

L = keras.layers


class Chain:
    """Operations applied one after another, as one operation of one input.

    ``forward`` composes them; ``vjp`` recomputes the intermediate values and applies each
    operation's own ``vjp`` in reverse (so a ReLU in the chain takes the rule).
    """

    def __init__(self, ops: list):
        self.ops = list(ops)

    def _values(self, x):
        values = [x]
        for op in self.ops:
            values.append(op.forward(values[-1]))
        return values

    def forward(self, x):
        """The last operation's output."""
        return self._values(x)[-1]

    def vjp(self, u, inputs, output, rule):
        """``u`` sent back through every operation, last first."""
        values = self._values(inputs[0])
        for op, x, y in reversed(list(zip(self.ops, values[:-1], values[1:]))):
            (u,) = op.vjp(u, [x], y, rule)
        return (u,)


def _affine(x, kernel, bias):
    y = x @ kernel
    return y if bias is None else y + bias


def _back(chain: Chain, u, z, rule):
    """The vector-Jacobian product of an activation chain at its input ``z``."""
    return chain.vjp(u, [z], None, rule)[0]


class SimpleRNNCell:
    """``h_t = act(x_t K + b + h_{t-1} R)``; state ``(h,)``."""

    states = 1

    def __init__(self, kernel, recurrent, bias, activation: Chain):
        self.kernel, self.recurrent, self.bias, self.act = kernel, recurrent, bias, activation

    def step(self, x, state):
        """One step: ``(x_t (N, F), state) -> (new state, cache for step_vjp)``."""
        (h,) = state
        z = _affine(x, self.kernel, self.bias) + h @ self.recurrent
        return (self.act.forward(z),), z

    def step_vjp(self, g, cache, rule):
        """Signals at the new state -> ``(x_t*, signals at the previous state)``."""
        gz = _back(self.act, g[0], cache, rule)
        return gz @ self.kernel.T, (gz @ self.recurrent.T,)


class LSTMCell:
    """Keras 3 LSTM cell; state ``(h, c)``, gates ``[i, f, c, o]`` (``ra``: recurrent activation).

    ``z = x K + h R + b`` split in four; ``c_t = ra(z_f) c_{t-1} + ra(z_i) act(z_c)``;
    ``h_t = ra(z_o) act(c_t)``.
    """

    states = 2

    def __init__(self, kernel, recurrent, bias, activation: Chain, recurrent_activation: Chain):
        self.kernel, self.recurrent, self.bias = kernel, recurrent, bias
        self.act, self.ract = activation, recurrent_activation

    def step(self, x, state):
        """One step: ``(x_t, (h, c)) -> ((h, c), cache)``."""
        h, c_prev = state
        z = _affine(x, self.kernel, self.bias) + h @ self.recurrent
        zi, zf, zc, zo = np.split(z, 4, axis=-1)
        i, f, g, o = self.ract.forward(zi), self.ract.forward(zf), self.act.forward(zc), self.ract.forward(zo)
        c = f * c_prev + i * g
        return (o * self.act.forward(c), c), (c_prev, z, i, f, g, o, c)

    def step_vjp(self, grads, cache, rule):
        """``(h*, c*)`` at the new state -> ``(x_t*, (h*, c*) at the previous state)``."""
        gh, gc = grads
        c_prev, z, i, f, g, o, c = cache
        zi, zf, zc, zo = np.split(z, 4, axis=-1)
        gc = gc + _back(self.act, gh * o, c, rule)
        gz = np.concatenate([
            _back(self.ract, gc * g, zi, rule), _back(self.ract, gc * c_prev, zf, rule),
            _back(self.act, gc * i, zc, rule), _back(self.ract, gh * self.act.forward(c), zo, rule),
        ], axis=-1)
        return gz @ self.kernel.T, (gz @ self.recurrent.T, gc * f)


class GRUCell:
    """Keras 3 GRU cell; state ``(h,)``, gates ``[z, r, h]``, either ``reset_after`` form.

    ``x K + b_in = [x_z, x_r, x_h]``; ``reset_after=True`` (bias ``(2, 3 units)`` =
    ``[b_in, b_rec]``): ``h R + b_rec = [m_z, m_r, m_h]``, ``hh = act(x_h + r m_h)``;
    ``reset_after=False`` (bias ``b_in`` only): ``[m_z, m_r] = h R_zr``,
    ``hh = act(x_h + (r h) R_h)``. Then ``z = ra(x_z + m_z)``, ``r = ra(x_r + m_r)``,
    ``h_t = z h_{t-1} + (1 - z) hh``.
    """

    states = 1

    def __init__(self, kernel, recurrent, bias, activation: Chain, recurrent_activation: Chain, reset_after: bool):
        self.kernel, self.recurrent, self.act, self.ract, self.reset_after = (
            kernel, recurrent, activation, recurrent_activation, reset_after)
        self.units = recurrent.shape[0]
        split = bias is not None and reset_after
        self.bias_in, self.bias_rec = (bias[0], bias[1]) if split else (bias, None)

    def step(self, x, state):
        """One step: ``(x_t, (h,)) -> ((h,), cache)``."""
        (h,) = state
        u = self.units
        xz, xr, xh = np.split(_affine(x, self.kernel, self.bias_in), 3, axis=-1)
        recurrent = self.recurrent if self.reset_after else self.recurrent[:, : 2 * u]
        m = _affine(h, recurrent, self.bias_rec)
        az, ar = xz + m[:, :u], xr + m[:, u : 2 * u]
        z, r = self.ract.forward(az), self.ract.forward(ar)
        ah = xh + (r * m[:, 2 * u :] if self.reset_after else (r * h) @ self.recurrent[:, 2 * u :])
        hh = self.act.forward(ah)
        return (z * h + (1.0 - z) * hh,), (h, m, az, ar, ah, z, r, hh)

    def step_vjp(self, grads, cache, rule):
        """``(h*,)`` at the new state -> ``(x_t*, (h*,) at the previous state)``."""
        (g,) = grads
        h, m, az, ar, ah, z, r, hh = cache
        u = self.units
        gah = _back(self.act, g * (1.0 - z), ah, rule)
        gh = g * z
        if self.reset_after:
            gr, gm_h = gah * m[:, 2 * u :], [gah * r]
        else:
            grh = gah @ self.recurrent[:, 2 * u :].T
            gr, gm_h, gh = grh * h, [], gh + grh * r
        gaz, gar = _back(self.ract, g * (h - hh), az, rule), _back(self.ract, gr, ar, rule)
        gm = np.concatenate([gaz, gar, *gm_h], axis=-1)
        recurrent = self.recurrent if self.reset_after else self.recurrent[:, : 2 * u]
        gx = np.concatenate([gaz, gar, gah], axis=-1) @ self.kernel.T
        return gx, (gh + gm @ recurrent.T,)


class Recurrent:
    """A cell run over ``(N, T, F)`` input; output ``(N, T, units)`` or ``(N, units)``.

    Parameters
    ----------
    cell : SimpleRNNCell, LSTMCell or GRUCell
        The step, with its weights and activation chains.
    units : int
        Size of each state.
    return_sequences : bool
        Output every step's ``h`` (in processing order) or only the last.
    go_backwards : bool
        Process the time steps last first; with ``return_sequences`` the output stays in
        processing order, i.e. reversed in time (as Keras, measured: outputs ``[x_T, x_T +
        x_{T-1}, ...]`` for a linear cell summing its inputs).

    Notes
    -----
    Forward: ``s_0 = 0``, ``s_t = cell(x_t, s_{t-1})`` for ``t = 1..T`` (``x`` reversed in
    time when ``go_backwards``), output ``h_t = s_t[0]``. Backward (BPTT): with ``u_t`` the
    signal at ``h_t`` (zero but at ``t = T`` without ``return_sequences``),
    ``g_T = 0``; for ``t = T..1``: ``(x*_t, g_{t-1}) = cell_vjp(g_t + (u_t, 0...))``.
    """

    def __init__(self, cell, units: int, return_sequences: bool, go_backwards: bool):
        self.cell, self.units = cell, units
        self.return_sequences, self.go_backwards = return_sequences, go_backwards

    def _run(self, x):
        seq = x[:, ::-1] if self.go_backwards else x
        state = tuple(np.zeros((len(x), self.units)) for _ in range(self.cell.states))
        outputs, caches = [], []
        for t in range(seq.shape[1]):
            state, cache = self.cell.step(seq[:, t], state)
            outputs.append(state[0])
            caches.append(cache)
        return np.stack(outputs, axis=1), caches

    def forward(self, x):
        """Every step's ``h`` (``return_sequences``) or the last one."""
        outputs, _ = self._run(x)
        return outputs if self.return_sequences else outputs[:, -1]

    def vjp(self, u, inputs, output, rule):
        """Backpropagation through time from ``u`` at the output (see the class notes)."""
        outputs, caches = self._run(inputs[0])
        if not self.return_sequences:
            u = np.concatenate([np.zeros_like(outputs[:, :-1]), u[:, None]], axis=1)
        grads = tuple(np.zeros_like(outputs[:, 0]) for _ in range(self.cell.states))
        gx = np.zeros_like(inputs[0])
        for t in reversed(range(len(caches))):
            grads = (grads[0] + u[:, t], *grads[1:])
            gx[:, t], grads = self.cell.step_vjp(grads, caches[t], rule)
        return (gx[:, ::-1] if self.go_backwards else gx,)


def plain_input(layer, input_shapes) -> None:
    """Refuse a call with more than one input (``initial_state``, ``constants``, an explicit
    ``mask``) or whose input carries a Keras mask (``Masking``, ``mask_zero``)."""
    if len(input_shapes) != 1:
        raise unsupported(layer, "called with more than its input (initial_state, constants or mask)")
    if any(getattr(t, "_keras_mask", None) is not None for n in layer._inbound_nodes for t in n.input_tensors):
        raise unsupported(layer, "its input carries a mask; masked time steps are not modelled")


def recurrent_op(layer) -> Recurrent:
    """The :class:`Recurrent` operation of a ``SimpleRNN``, ``LSTM`` or ``GRU`` layer."""
    if type(layer) not in (L.SimpleRNN, L.LSTM, L.GRU):
        raise unsupported(layer, "only SimpleRNN, LSTM and GRU are modelled as recurrent layers")
    if layer.return_state:
        raise unsupported(layer, "return_state=True gives several outputs")
    if layer.stateful:
        raise unsupported(layer, "stateful=True keeps states between calls")
    cell = layer.cell
    weights = (weight(cell.kernel), weight(cell.recurrent_kernel), weight(cell.bias) if cell.use_bias else None)
    act = Chain(activation_ops(layer, cell.activation))
    if type(layer) is L.SimpleRNN:
        step = SimpleRNNCell(*weights, act)
    elif type(layer) is L.LSTM:
        step = LSTMCell(*weights, act, Chain(activation_ops(layer, cell.recurrent_activation)))
    else:
        step = GRUCell(*weights, act, Chain(activation_ops(layer, cell.recurrent_activation)), cell.reset_after)
    return Recurrent(step, cell.units, layer.return_sequences, layer.go_backwards)


def _translate(layer, input_shapes):
    plain_input(layer, input_shapes)
    return [recurrent_op(layer)]


#: Layer type -> translation (see :func:`refdeconv.reference.layers.translate`).
TRANSLATIONS = dict.fromkeys((L.SimpleRNN, L.LSTM, L.GRU), _translate)
