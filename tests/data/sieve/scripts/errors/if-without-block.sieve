if true;
