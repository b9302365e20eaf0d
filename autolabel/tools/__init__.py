"""Tools that measure the product: the benchmark (:mod:`.bench`) and the dev-set evaluation of
discovery (:mod:`.devset`). They sit above the pipeline and beside the engines; the CLI runs them."""
