if anyof (header :is "x-spam-flag" "YES", header :contains "subject" "pills") {
    discard;
    stop;
}
