discard;
keep;
