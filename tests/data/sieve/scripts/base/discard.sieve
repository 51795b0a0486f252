discard;
