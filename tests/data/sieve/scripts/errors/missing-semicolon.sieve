keep
discard;
