"""Draw the ninth held-back split (case_data/09_split_ninth.toml) from the development
cases, by a protocol fixed and committed before any case of it existed.

    python tools/draw_heldback.py [--out PATH]

Why: the eighth split's parents were the development constructions whose labels the
rules already met on five seeds, and each was made stronger; both choices condition on
the tool or push away from its thresholds. This split conditions on neither.

Protocol (written before the draw; the draw is this script run once, its output
committed as is):

1. Parents: every development case (case_data 01-07 as they stood at commit f834de4,
   530 cases, 186 healthy), with no filter on whether the diagnosis got them right.
   One random.Random(SEED), SEED = 20261208, drives every draw below, in this order.
2. Strata: the findings a development label requires, taken in the order of how many
   development parents require each (most first, ties by name). For each, parents that
   require it are drawn uniformly without replacement (with replacement only where the
   stratum has fewer than 20 parents) until 20 children require it, counting children
   drawn for earlier strata (a vanishing parent also requires not_learning). Then
   ceil(P / 2) healthy parents, P the number of problem children, are drawn uniformly
   without replacement from the healthy development cases, so that at least a third of
   the split is healthy. No parent is picked by hand.
3. Variation: child i (in draw order) gets seed 700 + i (no development or eighth-split
   case uses a seed of 700 or more) and ONE other setting changed, the setting drawn
   uniformly from those its parent has, then a factor drawn uniformly from a set
   symmetric about 1 (in either direction):
     width (an MLP of depth >= 1, or a residual net) x {0.75, 0.8, 0.9, 1.11, 1.25, 1.33};
     channels (a CNN's conv channels) x the same set;
     init std (scheme normal) or constant value (scheme constant) x {0.8, 0.9, 1.1, 1.25};
     init bias (where nonzero) + or - 0.5;
     learning rate x {0.8, 1.25};
     penalty (l2 or l1, where nonzero) x {0.8, 1.25};
     batch size x {0.5, 2}.
   Integers are rounded and must change. The child keeps its parent's label (requires,
   allows, kind) and fix, since the construction is unchanged in kind, unless the
   arithmetic of its premise says the change crosses it; then the setting and factor
   are drawn again (and so where the child, seed aside, equals a development or
   eighth-split case). The premise checks, by label kind, with n a layer's fan-in, s its
   weights' std (kaiming s = sqrt(2/n), xavier s = sqrt(2/(n + n_out))), and the gain
   per layer g = s sqrt(n) c (c = sqrt(1/2) for ReLU, 1 for tanh, 1/4 for sigmoid at 0):
     vanishing: the product G of g over the hidden layers <= 0.1;
     exploding: G over the hidden layers and the output layer (c = 1) >= 10 (a residual
       block multiplies the RMS by sqrt(1 + g^2));
     saturated: the pre-activation spread s sqrt(n) of the widest hidden layer >= 2 for
       tanh, >= 4 for sigmoid;
     dead: the share of first-layer ReLU inputs above the bias b, P(N(0, sigma^2) > |b|)
       with sigma = s sqrt(n_in), <= 0.1;
     lr_high: the rate above the largest rate of a healthy development case on the same
       data set with the same optimizer (the same optimizer on any data set where none);
     diverged: the rate >= 10 x that largest healthy rate;
     lr_low: rate x steps (steps = epochs x ceil(training examples / batch)) below the
       smallest of the healthy development cases on the same data set and optimizer;
     overfitting: parameters >= 10 x training examples;
     underfitting: a capacity-limited net (depth 1) keeps width <= 4;
     symmetric: every change keeps each layer's units identical (no check);
     healthy: the rate within [smallest, largest] healthy development rate of its data
       set and optimizer, rate x steps at least the smallest there, and, for an init by
       std, each hidden layer's g within [0.5, 2].
   A parent already past its bound (a borderline construction) keeps its label and
   allows as they are; its child may then not move further past the bound than the
   parent. Where no redraw in 50 satisfies the checks, another parent is drawn from the
   same stratum. Each note names the parent, the change and the premise's arithmetic.
4. Output: 09_split_ninth.toml, split = "heldback", in the format of 08_split_eighth.toml
   (the parent's bases, its config tables with the change, its label or spelled-out
   requires / allows / kind, its fix, its user model). It is committed before any of its
   cases is run, then run once with `benchmarks/diagnosis.py --ids <its ids>`; no rule,
   threshold, fix or label changes after its results are seen.
"""
