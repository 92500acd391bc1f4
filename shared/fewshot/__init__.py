"""Few-shot image classification data shared by papers: Omniglot and MiniImagenet (fetch, preprocess, load) and
N-way K-shot episode sampling."""
