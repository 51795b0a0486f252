frobnicate;
