if true { keep;
