require "fileinto";
if header :is "subject" "MEETING TOMORROW ABOUT THE PROJECT SCHEDULE" { fileinto "casemap"; }
if header :is :comparator "i;octet" "subject" "MEETING TOMORROW ABOUT THE PROJECT SCHEDULE" { fileinto "octet"; }
if header :comparator "i;octet" :is "subject" "Meeting tomorrow about the project schedule" { fileinto "octet-exact"; }
