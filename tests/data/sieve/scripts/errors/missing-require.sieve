fileinto "x";
